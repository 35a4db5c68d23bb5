package whatsapp

import "testing"

func TestVersionNumbers(t *testing.T) {
	tests := map[string][3]uint32{
		"v0.2.0":                   {0, 2, 0},
		"v1.12.3-3-gabc1234-dirty": {1, 12, 3},
		"v0.1.0-dev":               {0, 1, 0},
		"2.5":                      {2, 5, 0},
		"v3.1.4+incompatible":      {3, 1, 4},
		"(devel)":                  {0, 0, 0},
		"":                         {0, 0, 0},
	}
	for in, want := range tests {
		if got := versionNumbers(in); got != want {
			t.Errorf("versionNumbers(%q) = %v, want %v", in, got, want)
		}
	}
}
