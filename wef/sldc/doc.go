// Package sldc implements the ECMA-321 Streaming Lossless Data Compression
// (SLDC) format with a 1 KiB history buffer, as used by Windows Event
// Forwarding clients for delivery bodies sent with "Content-Encoding: SLDC".
//
// An encoded stream is a big-endian (most significant bit first) sequence of
// variable-length symbols:
//
//   - Control symbols are 13 bits: nine one-bits followed by a 4-bit code
//     (RESET_1 = 0x1FF5, END_OF_RECORD = 0x1FF4, ...).
//   - In scheme 1 a literal is a zero bit followed by the byte, and a copy
//     pointer is a one bit, a match-count field (2 to 271 bytes) and a 10-bit
//     displacement, which is an absolute slot in the 1024-byte circular
//     history buffer rather than a backwards distance.
//   - In scheme 2 each byte stands for itself; 0xFF is followed by a zero bit
//     so that it cannot be taken for the start of a control symbol.
//
// A captured Windows body starts with RESET_1, uses scheme 1 only (copies of
// 3 to 271 bytes, never overlapping their own output), ends with
// END_OF_RECORD, is padded with zero bits to a 16-bit boundary and is
// followed by the uncompressed length as a 4-byte little-endian integer.
// [Compress] produces that shape; [Decompress] stops at END_OF_RECORD and
// ignores whatever follows.
package sldc
