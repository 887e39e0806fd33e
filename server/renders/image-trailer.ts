/**
 * How many bytes follow the end of an uploaded image: a PNG ends with its IEND chunk, a JPEG
 * with its EOI marker. Anything after that is not part of the picture and is how polyglots
 * (a valid PNG that is also an HTML page or a zip) get stored under an image type, so uploads
 * with a trailer are refused. Returns 0 for other types and for images that end cleanly;
 * -1 for a PNG whose chunks run past the end (truncated).
 */
export function bytesAfterImageEnd(bytes: Uint8Array, mediaType: string): number {
  if (mediaType === 'image/png') return afterPng(bytes);
  if (mediaType === 'image/jpeg') return afterJpeg(bytes);
  return 0;
}

const PNG_SIGNATURE_BYTES = 8;

function afterPng(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = PNG_SIGNATURE_BYTES;
  // Each chunk: length (4), type (4), data (length), CRC (4).
  while (offset + 12 <= bytes.byteLength) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const end = offset + 12 + length;
    if (end > bytes.byteLength) return -1;
    if (type === 'IEND') return bytes.byteLength - end;
    offset = end;
  }
  return -1;
}

function afterJpeg(bytes: Uint8Array): number {
  // Encoders may pad with zeros after EOI; anything else after the last EOI is a trailer.
  let end = bytes.byteLength;
  while (end > 0 && bytes[end - 1] === 0) end -= 1;
  return end >= 2 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9 ? 0 : 1;
}
