// The demo page (web/, as `deno task serve` serves it) after a short training in headless
// Chromium: its loss and mAP curves have points, and at least one detection is drawn on a
// validation image. The screenshot is kept in work_dirs/browser/demo.png (a CI artifact).
import { assert } from "../_assert.ts";
import { startDemoServer } from "../../tools/serve_web.ts";
import { Browser, probeAdapter } from "../../tools/chromium.ts";
import { NO_CHROMIUM, ROOT } from "./_browser.ts";

interface DemoState {
  lossPoints: number;
  mapPoints: number;
  detections: number;
  drawn: number;
  done: boolean;
  error: string | null;
}

Deno.test({
  name: "browser: the demo page trains, draws its curves and detections (screenshot kept)",
  ignore: NO_CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await startDemoServer();
    let browser = await Browser.launch();
    try {
      let page = await browser.newPage();
      await page.goto(server.url + "__probe.html").catch(() => {});
      if (!await probeAdapter(page)) { // about 1 launch in 30 gets no adapter: retry once
        await browser.close();
        browser = await Browser.launch();
        page = await browser.newPage();
      }
      // 4 training images at batch 2, 1 epoch: 2 iterations, a validation, drawn detections
      // (score ≥ 0.001: after 2 iterations the scores are still near the 0.01 prior)
      await page.goto(server.url + "index.html?auto=1&epochs=1&ntrain=4&nval=1&thr=0.001");
      let st: DemoState | null = null;
      const deadline = Date.now() + 80_000;
      while (Date.now() < deadline) {
        st = await page.evaluate<DemoState | null>("globalThis.demoState ?? null");
        if (st && (st.done || st.error)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const png = await page.screenshot();
      await Deno.mkdir(`${ROOT}work_dirs/browser`, { recursive: true });
      await Deno.writeFile(`${ROOT}work_dirs/browser/demo.png`, png);
      assert.ok(st, "the page did not start (no demoState)");
      assert.equal(st.error, null, `page error: ${st.error}\n${page.log.join("\n")}`);
      assert.ok(st.done, `training did not finish in time: ${JSON.stringify(st)}`);
      assert.ok(st.lossPoints >= 2, `loss curve has ${st.lossPoints} points`);
      assert.ok(st.mapPoints >= 1, `mAP curve has ${st.mapPoints} points`);
      assert.ok(st.drawn >= 1, `no detection drawn (${st.detections} detections)`);
      assert.ok(png.length > 10_000, `screenshot is ${png.length} bytes`);
      const text = await page.evaluate<string>("document.getElementById('adapter').textContent");
      assert.match(text, /adapter: /);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
