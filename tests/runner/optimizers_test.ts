import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { keep, Tensor } from "../../lib/autograd/mod.ts";
import { SGD } from "../../lib/runner/optimizers/sgd.ts";
import { AdamW } from "../../lib/runner/optimizers/adamw.ts";
import { buildGroups } from "../../lib/runner/optimizers/base.ts";

interface Fx {
  init: FixtureArray[];
  grads: FixtureArray[][];
  [k: string]: unknown;
}

function params(fx: Fx): [string, Tensor][] {
  return fx.init.map((
    a,
    i,
  ) => [`p${i}`, keep(Tensor.from(a.data, a.shape, { requiresGrad: true }))]);
}

function setGrads(ps: [string, Tensor][], gs: FixtureArray[]): void {
  ps.forEach(([, p], i) => {
    p.grad?.dispose();
    p.grad = keep(Tensor.from(gs[i].data, gs[i].shape));
  });
}

for (const name of ["sgd_momentum_wd", "sgd_nesterov", "sgd_dampening", "sgd_plain", "adamw"]) {
  gpuTest(
    `${name.startsWith("sgd") ? "SGD" : "AdamW"}.step() follows PyTorch's trajectory (${name})`,
    async () => {
      const fx = await loadFixture<Fx>("runner/optim.json");
      const c = fx[name] as {
        kwargs: Record<string, number | boolean | number[]>;
        steps: FixtureArray[][];
      };
      const ps = params(fx);
      const opt = name === "adamw"
        ? new AdamW({
          params: ps,
          ...(c.kwargs as { lr: number }),
          betas: c.kwargs.betas as [number, number],
        })
        : new SGD({ params: ps, ...(c.kwargs as { lr: number }) });
      for (let s = 0; s < c.steps.length; s++) {
        opt.zeroGrad();
        setGrads(ps, fx.grads[s]);
        opt.step();
        for (let i = 0; i < ps.length; i++) {
          assertClose(await ps[i][1].toArray(), c.steps[s][i].data, {
            rtol: 1e-5,
            atol: 1e-6,
            msg: `step ${s} param ${i}`,
          });
        }
      }
      opt.dispose();
      for (const [, p] of ps) p.dispose();
    },
  );
}

gpuTest(
  "clipGradNorm() equals torch.nn.utils.clip_grad_norm_ and reads nothing back",
  async (gpu) => {
    const fx = await loadFixture<Fx>("runner/optim.json");
    for (const maxNorm of [35, 1.5]) {
      const c = fx[`clip_${maxNorm.toFixed(1)}`] as { norm: number; grads: FixtureArray[] };
      const ps = params(fx);
      const opt = new SGD({ params: ps, lr: 0.1 });
      setGrads(ps, fx.grads[0].map((g) => ({ ...g, data: g.data.map((v) => v * 3) })));
      const r0 = gpu.stats().readbacks;
      const norm = opt.clipGradNorm({ max_norm: maxNorm }) as Tensor;
      assert.equal(gpu.stats().readbacks, r0);
      assertClose(await norm.item(), c.norm, { rtol: 1e-5 });
      for (let i = 0; i < ps.length; i++) {
        assertClose(
          await ps[i][1].grad!.toArray(),
          c.grads[i].data,
          { rtol: 1e-5, atol: 1e-7 },
        );
      }
      norm.dispose();
      opt.zeroGrad();
      for (const [, p] of ps) p.dispose();
    }
  },
);

gpuTest(
  "SGD stateDict()/loadStateDict() resume the momentum buffers and initial_lr exactly",
  async () => {
    const fx = await loadFixture<Fx>("runner/optim.json");
    const ps = params(fx);
    const opt = new SGD({ params: ps, lr: 0.01, momentum: 0.9 });
    setGrads(ps, fx.grads[0]);
    opt.step();
    const st = await opt.stateDict();
    assert.deepEqual(Object.keys(st.state).sort(), ["p0.momentum_buffer", "p1.momentum_buffer"]);
    assert.equal(st.param_groups[0].initial_lr, 0.01);
    // a fresh optimizer over copies of the current parameters, resumed from the state
    const copies: [string, Tensor][] = [];
    for (const [n, p] of ps) {
      copies.push([
        n,
        keep(Tensor.from(await p.toArray(), p.shape, { requiresGrad: true })),
      ]);
    }
    const resumed = new SGD({ params: copies, lr: 0.5, momentum: 0.9 });
    resumed.loadStateDict(st);
    assert.equal(resumed.paramGroups[0].lr, 0.01);
    setGrads(ps, fx.grads[1]);
    setGrads(copies, fx.grads[1]);
    opt.step();
    resumed.step(); // not a first step: uses the restored buffers
    for (let i = 0; i < ps.length; i++) {
      assertClose(
        await copies[i][1].toArray(),
        await ps[i][1].toArray(),
        { rtol: 1e-6 },
      );
    }
    for (const o of [opt, resumed]) o.dispose();
    for (const [, p] of [...ps, ...copies]) p.dispose();
  },
);

Deno.test("paramwise_cfg gives biases and norm parameters their decay and lr multipliers", () => {
  const fake = (n: string) => [n, { shape: [1] } as unknown as Tensor] as [string, Tensor];
  const { groups, entries } = buildGroups(
    [fake("conv.weight"), fake("conv.bias"), fake("backbone.layer1.weight")],
    { lr: 0.1, weight_decay: 1e-4 },
    { bias_lr_mult: 2, bias_decay_mult: 0, custom_keys: { backbone: { lr_mult: 0.1 } } },
  );
  assert.equal(entries.length, 3);
  assert.deepEqual(groups.map((g) => [g.lr, g.weight_decay]), [[0.1, 1e-4], [0.2, 0], [
    0.1 * 0.1,
    1e-4,
  ]]);
});
