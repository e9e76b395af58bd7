package loopback

import "testing"

func TestAddress(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9000", true},
		{"127.1.2.3:9000", true},
		{"localhost:9000", true},
		{"LOCALHOST:1", true},
		{"[::1]:9000", true},
		{":9000", false},
		{"0.0.0.0:9000", false},
		{"192.0.2.1:9000", false},
		{"[::]:9000", false},
		{"wec.example.test:9000", false},
		{"no port", false},
	}
	for _, tt := range tests {
		if got := Address(tt.addr); got != tt.want {
			t.Errorf("Address(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
