// The few WebGPU and device-memory globals the worker touches, which TypeScript's own `webworker`
// library does not declare yet. Loose on purpose: this check is about the calls into the wasm
// module (pkg/impasto.d.ts), not about WebGPU's types.
declare var GPUDevice: any;
declare var GPUAdapter: any;
interface WorkerNavigator {
  readonly gpu?: any;
  readonly deviceMemory?: number;
}
interface WorkerGlobalScope {
  GPUDevice?: any;
  GPUAdapter?: any;
}
