/**
 * MediaPipe's face models as npm ships them (`@mediapipe/face_detection`) carry no TFLite
 * metadata, and the Tasks API (`@mediapipe/tasks-vision` FaceDetector) refuses them:
 * "Input tensor has type float32: it requires specifying NormalizationOptions metadata to
 * preprocess input images". `withNormalizationMetadata` adds exactly that to the model file,
 * without touching the graph or the weights: a `TFLITE_METADATA` entry whose buffer holds a
 * ModelMetadata flatbuffer (file identifier M001) with the image input's NormalizationOptions
 * (mean 127.5, std 127.5: pixels to [-1, 1], what the model was trained on).
 *
 * How, in flatbuffer terms: offsets only point forward, so a new root table, a new `buffers`
 * vector (the old buffers + one), a new `metadata` vector (the old entries + one) and their
 * tables are put in front of the old bytes, which move down by a multiple of 16 (every relative
 * offset and every alignment inside them stays valid); the metadata bytes go at the end. The old
 * root table stays, unreferenced.
 */

/** Little-endian writer with absolute positions (`base` = the position of byte 0). */
class Writer {
  bytes: number[] = [];
  constructor(readonly base: number) {}
  get pos(): number {
    return this.base + this.bytes.length;
  }
  align(n: number): void {
    while (this.pos % n !== 0) this.bytes.push(0);
  }
  u8(v: number): void {
    this.bytes.push(v & 0xff);
  }
  u16(v: number): void {
    this.bytes.push(v & 0xff, (v >>> 8) & 0xff);
  }
  u32(v: number): void {
    this.bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  f32(v: number): void {
    const b = new Uint8Array(Float32Array.of(v).buffer);
    this.bytes.push(...b);
  }
  /** Reserves a u32 to be filled later with a forward offset; returns its position. */
  hole(): number {
    const at = this.pos;
    this.u32(0);
    return at;
  }
  /** Fills the u32 at `at` with the uoffset from `at` to `target` (must be forward). */
  point(at: number, target: number): void {
    if (target < at) throw new Error('flatbuffer offsets must point forward');
    this.set32(at, target - at);
  }
  set32(at: number, v: number): void {
    const i = at - this.base;
    this.bytes[i] = v & 0xff;
    this.bytes[i + 1] = (v >>> 8) & 0xff;
    this.bytes[i + 2] = (v >>> 16) & 0xff;
    this.bytes[i + 3] = (v >>> 24) & 0xff;
  }
  /**
   * A table whose fields are all 4 bytes (u32 scalars or offsets) or 1 byte (u8), in the given
   * order: the vtable first, then the table. Returns the table position and each field's position.
   */
  table(fields: { id: number; size: 1 | 4 }[]): { at: number; field: Map<number, number> } {
    const maxId = Math.max(-1, ...fields.map((f) => f.id));
    // Table layout: soffset (4), then 4-byte fields, then 1-byte fields, padded to 4.
    const offsets = new Map<number, number>();
    let o = 4;
    for (const f of fields.filter((x) => x.size === 4)) {
      offsets.set(f.id, o);
      o += 4;
    }
    for (const f of fields.filter((x) => x.size === 1)) {
      offsets.set(f.id, o);
      o += 1;
    }
    const inline = (o + 3) & ~3;
    this.align(2);
    const vt = this.pos;
    this.u16(4 + 2 * (maxId + 1));
    this.u16(inline);
    for (let id = 0; id <= maxId; id++) this.u16(offsets.get(id) ?? 0);
    this.align(4);
    const at = this.pos;
    this.u32(at - vt); // soffset: table − vtable
    for (let i = 4; i < inline; i++) this.u8(0);
    const field = new Map<number, number>();
    for (const [id, off] of offsets) field.set(id, at + off);
    return { at, field };
  }
  string(s: string): number {
    this.align(4);
    const at = this.pos;
    const b = new TextEncoder().encode(s);
    this.u32(b.length);
    this.bytes.push(...b, 0);
    return at;
  }
}

/** Reads a table's fields: field id → absolute position of its value (absent: undefined). */
function readTable(buf: DataView, table: number): (id: number) => number | undefined {
  const vt = table - buf.getInt32(table, true);
  const vtSize = buf.getUint16(vt, true);
  return (id) => {
    const slot = 4 + 2 * id;
    if (slot >= vtSize) return undefined;
    const off = buf.getUint16(vt + slot, true);
    return off === 0 ? undefined : table + off;
  };
}

const deref = (buf: DataView, at: number) => at + buf.getUint32(at, true);

/** The ModelMetadata flatbuffer (identifier M001): one subgraph, one input tensor with NormalizationOptions. */
export function normalizationMetadata(mean: number, std: number, name = 'image'): Uint8Array {
  const w = new Writer(0);
  const root = w.hole();
  for (const c of 'M001') w.u8(c.charCodeAt(0));
  // ModelMetadata { name: 0, subgraph_metadata: 3 }
  const mm = w.table([
    { id: 0, size: 4 },
    { id: 3, size: 4 },
  ]);
  w.point(root, mm.at);
  w.point(mm.field.get(0)!, w.string('face detector (metadata added by vibe-curate)'));
  w.align(4);
  const subgraphs = w.pos;
  w.u32(1);
  const sgEntry = w.hole();
  w.point(mm.field.get(3)!, subgraphs);
  // SubGraphMetadata { input_tensor_metadata: 2 }
  const sg = w.table([{ id: 2, size: 4 }]);
  w.point(sgEntry, sg.at);
  w.align(4);
  const inputs = w.pos;
  w.u32(1);
  const inEntry = w.hole();
  w.point(sg.field.get(2)!, inputs);
  // TensorMetadata { name: 0, process_units: 4 }
  const tm = w.table([
    { id: 0, size: 4 },
    { id: 4, size: 4 },
  ]);
  w.point(inEntry, tm.at);
  w.point(tm.field.get(0)!, w.string(name));
  w.align(4);
  const units = w.pos;
  w.u32(1);
  const unitEntry = w.hole();
  w.point(tm.field.get(4)!, units);
  // ProcessUnit { options_type: 0 (u8, NormalizationOptions = 1), options: 1 }
  const pu = w.table([
    { id: 1, size: 4 },
    { id: 0, size: 1 },
  ]);
  w.point(unitEntry, pu.at);
  w.bytes[pu.field.get(0)! - w.base] = 1;
  // NormalizationOptions { mean: 0, std: 1 }
  const no = w.table([
    { id: 0, size: 4 },
    { id: 1, size: 4 },
  ]);
  w.point(pu.field.get(1)!, no.at);
  w.align(4);
  w.point(no.field.get(0)!, w.pos);
  w.u32(1);
  w.f32(mean);
  w.point(no.field.get(1)!, w.pos);
  w.u32(1);
  w.f32(std);
  return Uint8Array.from(w.bytes);
}

/** Whether a TFLite model already names a TFLITE_METADATA entry. */
export function hasTfliteMetadata(model: Uint8Array): boolean {
  const buf = new DataView(model.buffer, model.byteOffset, model.byteLength);
  const field = readTable(buf, buf.getUint32(0, true));
  const meta = field(6);
  if (meta === undefined) return false;
  const vec = deref(buf, meta);
  for (let i = 0; i < buf.getUint32(vec, true); i++) {
    const entry = deref(buf, vec + 4 + 4 * i);
    const name = readTable(buf, entry)(0);
    if (name === undefined) continue;
    const s = deref(buf, name);
    if (new TextDecoder().decode(model.subarray(s + 4, s + 4 + buf.getUint32(s, true))) === 'TFLITE_METADATA') return true;
  }
  return false;
}

/** `model` (a .tflite flatbuffer without metadata) with NormalizationOptions metadata on its input. */
export function withNormalizationMetadata(model: Uint8Array, mean = 127.5, std = 127.5): Uint8Array {
  const buf = new DataView(model.buffer, model.byteOffset, model.byteLength);
  const ident = new TextDecoder().decode(model.subarray(4, 8));
  if (ident !== 'TFL3') throw new Error('not a TFLite model (no TFL3 identifier)');
  if (hasTfliteMetadata(model)) return model;
  const oldRoot = buf.getUint32(0, true);
  const field = readTable(buf, oldRoot);
  const oldBuffers = deref(buf, field(4)!);
  const nBuffers = buf.getUint32(oldBuffers, true);
  const oldMeta = field(6) === undefined ? undefined : deref(buf, field(6)!);
  const nMeta = oldMeta === undefined ? 0 : buf.getUint32(oldMeta, true);
  const metaBytes = normalizationMetadata(mean, std);

  // The front part (from byte 8), laid out twice: once to learn its size, then for real with the shift.
  const layout = (shift: number) => {
    const w = new Writer(8);
    const moved = (at: number) => at + shift; // an old position in the new file
    const ids = [0, 1, 2, 3, 4, 5, 6, 7].filter((id) => id === 4 || id === 6 || field(id) !== undefined);
    const root = w.table(ids.map((id) => ({ id, size: 4 as const })));
    for (const id of ids) {
      if (id === 4 || id === 6) continue;
      const at = field(id)!;
      if (id === 0) w.set32(root.field.get(0)!, buf.getUint32(at, true)); // version: a scalar
      else w.point(root.field.get(id)!, moved(deref(buf, at)));
    }
    // buffers: the old tables, then the metadata's
    w.align(4);
    w.point(root.field.get(4)!, w.pos);
    w.u32(nBuffers + 1);
    for (let i = 0; i < nBuffers; i++) {
      const at = w.hole();
      w.point(at, moved(deref(buf, oldBuffers + 4 + 4 * i)));
    }
    const newBufferEntry = w.hole();
    // metadata: the old entries, then TFLITE_METADATA → the new buffer
    w.align(4);
    w.point(root.field.get(6)!, w.pos);
    w.u32(nMeta + 1);
    for (let i = 0; i < nMeta; i++) {
      const at = w.hole();
      w.point(at, moved(deref(buf, oldMeta! + 4 + 4 * i)));
    }
    const newMetaEntry = w.hole();
    const metaTable = w.table([
      { id: 0, size: 4 },
      { id: 1, size: 4 },
    ]);
    w.point(newMetaEntry, metaTable.at);
    w.set32(metaTable.field.get(1)!, nBuffers);
    w.point(metaTable.field.get(0)!, w.string('TFLITE_METADATA'));
    const bufferTable = w.table([{ id: 0, size: 4 }]);
    w.point(newBufferEntry, bufferTable.at);
    return { w, root: root.at, dataField: bufferTable.field.get(0)! };
  };
  const size = layout(0).w.bytes.length;
  const shift = Math.ceil((size + 16) / 16) * 16; // front part + slack, a multiple of 16
  const { w, root, dataField } = layout(shift);
  if (w.bytes.length > shift) throw new Error('front part outgrew its room');
  const oldEnd = 8 + shift + (model.length - 8);
  const dataVec = Math.ceil((oldEnd + 4) / 16) * 16 - 4; // the bytes themselves 16-aligned
  w.point(dataField, dataVec);
  const out = new Uint8Array(dataVec + 4 + metaBytes.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, root, true);
  out.set(model.subarray(4, 8), 4);
  out.set(w.bytes, 8);
  out.set(model.subarray(8), 8 + shift);
  view.setUint32(dataVec, metaBytes.length, true);
  out.set(metaBytes, dataVec + 4);
  return out;
}
