package main

import "testing"

// TestCheckEmulatorFlags: --emulator-default-account must be 12 digits and needs emulator mode.
func TestCheckEmulatorFlags(t *testing.T) {
	for _, tt := range []struct {
		emulator bool
		account  string
		ok       bool
	}{
		{true, "123456789012", true},
		{true, "000000000000", true},
		{false, "000000000000", true}, // the default, given or not
		{true, "12345", false},
		{true, "abcdefghijkl", false},
		{false, "123456789012", false},
	} {
		err := checkEmulatorFlags(serverConfig{Emulator: tt.emulator, EmulatorAccount: tt.account})
		if (err == nil) != tt.ok {
			t.Errorf("emulator=%v account=%q: %v", tt.emulator, tt.account, err)
		}
	}
}
