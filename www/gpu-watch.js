// What the worker watches on WebGPU (imported before the engine opens a device): the bytes of
// live GPU buffers, and every device burn opens, for loss.

// GPU memory the engine holds: the bytes of the WebGPU buffers it created and has not destroyed
// (WebGPU has no query for a device's memory; every buffer burn allocates passes through here).
let bytes = 0;
export const gpuBytes = () => bytes;
if (self.GPUDevice) {
  const createBuffer = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function counted(descriptor) {
    const buffer = createBuffer.call(this, descriptor);
    const { size } = buffer;
    bytes += size;
    const destroy = buffer.destroy;
    let live = true;
    buffer.destroy = function destroyCounted() {
      if (live) { live = false; bytes -= size; }
      return destroy.call(this);
    };
    return buffer;
  };
}

// Every GPU device burn opens, watched for loss (a driver reset, a sleeping laptop's GPU, or
// `device.destroy()` from the fault test).
export const devices = [];
/** @type {(message: string) => void} */
let lost = () => {};
export function onDeviceLost(fn) { lost = fn; }
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function watched(...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    device.lost.then((info) => lost(info.message || `the GPU device was lost (${info.reason})`));
    return device;
  };
}
