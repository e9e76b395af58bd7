package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
)

// TestReadBody: the body arrives whole whatever its size next to
// bodyChunk and however the reader splits it; a body shorter than its
// Content-Length is refused.
func TestReadBody(t *testing.T) {
	h, _, _ := newTestHandler(t)
	tests := []struct {
		name          string
		size          int
		contentLength int64
		oneByte       bool
		wantStatus    int
	}{
		{"empty", 0, 0, false, 0},
		{"small", 100, 100, false, 0},
		{"one chunk", bodyChunk, bodyChunk, false, 0},
		{"one past a chunk", bodyChunk + 1, bodyChunk + 1, false, 0},
		{"several chunks", 5*bodyChunk + 7, 5*bodyChunk + 7, false, 0},
		{"byte by byte", 3 * bodyChunk / 2, 3 * bodyChunk / 2, true, 0},
		{"shorter than announced", 1000, 2000, false, http.StatusBadRequest},
		{"over the limit", 10, 2 << 20, false, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := bytes.Repeat([]byte("0123456789abcdef"), tt.size/16+1)[:tt.size]
			var body io.Reader = bytes.NewReader(want)
			if tt.oneByte {
				body = iotest.OneByteReader(body)
			}
			r := httptest.NewRequest(http.MethodPost, "/", body)
			r.ContentLength = tt.contentLength
			got, err := h.readBody(r)
			var he *httpError
			if tt.wantStatus != 0 {
				if !errors.As(err, &he) || he.status != tt.wantStatus {
					t.Fatalf("err = %v, want a %d refusal", err, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
}
