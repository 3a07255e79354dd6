package stack

import "testing"

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "web", 3},
		{"web", "web", 0},
		{"shop-dv", "shop-dev", 1},
		{"kitten", "sitting", 3},
		{"x-qaui", "x-quai", 2},
		// One edit per rune, not per byte: é is two bytes in UTF-8.
		{"café", "cafe", 1},
		{"über", "uber", 1},
	}
	for _, tt := range tests {
		if got := EditDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := EditDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}
