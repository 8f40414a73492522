import { assert } from "../_assert.ts";
import { parseXml } from "../../lib/datasets/xml.ts";
import { DataError } from "../../lib/utils/errors.ts";

Deno.test("parseXml() reads elements, attributes, text, entities, comments and CDATA", () => {
  const root = parseXml(
    `<?xml version="1.0"?>\n<!-- c --><annotation a="1 &amp; 2"><name>RBC &lt;x&gt; &#65;&#x42;</name>` +
      `<empty/><raw><![CDATA[<b>]]></raw><o><n>1</n></o><o><n>2</n></o></annotation>`,
  );
  assert.equal(root.name, "annotation");
  assert.equal(root.attrs.a, "1 & 2");
  assert.equal(root.findText("name"), "RBC <x> AB");
  assert.equal(root.findText("empty"), "");
  assert.equal(root.findText("raw"), "<b>");
  assert.deepEqual(root.findAll("o").map((o) => o.findText("n")), ["1", "2"]);
  assert.equal(root.find("missing"), undefined);
});

Deno.test("parseXml() reports mismatched tags with file name and line", () => {
  assert.throws(
    () => parseXml("<a>\n<b>\n</c></a>", "x.xml"),
    (e: Error) =>
      e instanceof DataError && e.message.includes('"x.xml"') && e.message.includes("line 3") &&
      /<\/c>/.test(e.message),
  );
  assert.throws(
    () => parseXml("<a><b></b>", "y.xml"),
    (e: Error) => e instanceof DataError && /not closed/.test(e.message),
  );
  assert.throws(
    () => parseXml("", "z.xml"),
    (e: Error) => e instanceof DataError && /no root/.test(e.message),
  );
  assert.throws(
    () => parseXml("<a>&bogus;</a>", "w.xml"),
    (e: Error) => e instanceof DataError && /unknown entity/.test(e.message),
  );
});
