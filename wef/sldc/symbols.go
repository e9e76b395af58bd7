package sldc

import "errors"

// Control symbols are the 4-bit codes that follow nine one-bits.
const (
	ctrlFlush       = 0x1FF0
	ctrlScheme1     = 0x1FF1
	ctrlScheme2     = 0x1FF2
	ctrlFileMark    = 0x1FF3
	ctrlEndOfRecord = 0x1FF4
	ctrlReset1      = 0x1FF5
	ctrlReset2      = 0x1FF6
	ctrlEndMarker   = 0x1FFF

	// ctrlPrefix is the value of the nine leading one-bits of every
	// control symbol; no data symbol can start with it.
	ctrlPrefix = 0x1FF
	ctrlBits   = 13
)

const (
	historySize = 1024
	historyMask = historySize - 1
	// displacementBits addresses one slot of the history buffer.
	displacementBits = 10

	minMatch = 2
	maxMatch = 271

	// padAlignBits is the boundary a FLUSH or FILE_MARK symbol is padded to
	// before decoding resumes.
	padAlignBits = 32
)

var (
	// ErrCorrupt reports input that is not a valid SLDC stream, including
	// a stream cut short before END_OF_RECORD.
	ErrCorrupt = errors.New("sldc: corrupt stream")
	// ErrTooLarge reports a stream whose decoded size exceeds the limit
	// given to Decompress.
	ErrTooLarge = errors.New("sldc: decompressed data exceeds limit")
)
