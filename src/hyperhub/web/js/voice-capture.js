// An AudioWorklet (loaded by voice.js): the microphone's samples, first channel, posted to
// the page in blocks of 2,048 frames (~45 ms), so the page can write them into a WAV.

const BLOCK = 2048;

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(BLOCK);
    this.used = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    let from = 0;
    while (from < input.length) {
      const n = Math.min(input.length - from, BLOCK - this.used);
      this.block.set(input.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
      if (this.used === BLOCK) {
        this.port.postMessage(this.block);
        this.block = new Float32Array(BLOCK);
        this.used = 0;
      }
    }
    return true;
  }
}

registerProcessor('hyperhub-capture', Capture);
