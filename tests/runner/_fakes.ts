/**
 * CPU fakes of the runner's model, optimizer and data loader for the runner tests.
 */
import type {
  LogValue,
  Optimizer,
  OptimizerState,
  RunnerDataLoader,
  RunnerModel,
  StateDict,
  TrainStepOutput,
} from "../../lib/runner/types.ts";

/** A model whose "weights" are one float array; each step logs a loss from `lossAt(step)`. */
export class FakeModel implements RunnerModel {
  weights = new Float32Array([1, 2, 3, 4]);
  steps = 0;
  mode = "none";
  backwardCalls = 0;
  calls: string[] = [];
  lossAt: (step: number) => LogValue;
  numClasses?: number;

  constructor(lossAt: (step: number) => LogValue = (s) => 1 / (s + 1)) {
    this.lossAt = lossAt;
  }

  trainStep(data: unknown): TrainStepOutput {
    this.calls.push(`trainStep:${JSON.stringify(data)}`);
    const l = this.lossAt(this.steps++);
    return {
      loss: { backward: () => void this.backwardCalls++ },
      log_vars: { loss_cls: l, loss_bbox: 0.5, loss: typeof l === "number" ? l + 0.5 : l },
      num_samples: 2,
    };
  }
  valStep(data: unknown): TrainStepOutput {
    this.calls.push(`valStep:${JSON.stringify(data)}`);
    return { log_vars: { loss: 0.25 }, num_samples: 1 };
  }
  train(): void {
    this.mode = "train";
  }
  eval(): void {
    this.mode = "eval";
  }
  stateDict(): StateDict {
    return { "backbone.w": { dtype: "F32", shape: [2, 2], data: this.weights.slice() } };
  }
  loadStateDict(sd: StateDict): void {
    this.weights = (sd["backbone.w"].data as Float32Array).slice();
  }
  *namedModules(): Iterable<[string, unknown]> {
    if (this.numClasses !== undefined) yield ["bbox_head", { numClasses: this.numClasses }];
  }
}

/** An optimizer that "trains" by subtracting lr from every weight. */
export class FakeOptimizer implements Optimizer {
  paramGroups: { lr: number; initial_lr?: number; momentum?: number }[];
  model: FakeModel;
  stepCalls = 0;
  zeroCalls = 0;
  lrsAtStep: number[] = [];
  momentum = new Float32Array([0, 0, 0, 0]);

  constructor(model: FakeModel, lr = 0.01) {
    this.model = model;
    this.paramGroups = [{ lr, momentum: 0.9 }];
  }
  zeroGrad(): void {
    this.zeroCalls++;
  }
  step(): void {
    this.stepCalls++;
    this.lrsAtStep.push(this.paramGroups[0].lr);
    for (let i = 0; i < this.momentum.length; i++) {
      this.momentum[i] = 0.9 * this.momentum[i] + 1;
      this.model.weights[i] -= this.paramGroups[0].lr * this.momentum[i];
    }
  }
  stateDict(): OptimizerState {
    return {
      state: {
        "backbone.w.momentum_buffer": { dtype: "F32", shape: [2, 2], data: this.momentum.slice() },
      },
      param_groups: this.paramGroups.map((g) => ({ ...g })),
    };
  }
  loadStateDict(s: OptimizerState): void {
    this.momentum = (s.state["backbone.w.momentum_buffer"].data as Float32Array).slice();
    this.paramGroups = s.param_groups.map((g) => ({ ...g })) as typeof this.paramGroups;
  }
}

/** A loader of `n` batches (the batch is its index), sync-iterable. */
export function fakeLoader(n: number, classes?: string[]): RunnerDataLoader<number> {
  return {
    length: n,
    dataset: classes ? { CLASSES: classes } : undefined,
    *[Symbol.iterator]() {
      for (let i = 0; i < n; i++) yield i;
    },
  };
}

/** A loader of `n` batches that yields asynchronously. */
export function asyncLoader(n: number): RunnerDataLoader<number> {
  return {
    length: n,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < n; i++) {
        await Promise.resolve();
        yield i;
      }
    },
  };
}
