package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOneServePerPinDir: a second serve on a pin directory one already
// keeps is refused at once, naming the first's pid, and changes nothing;
// it applied its own config over the first's at every reload. Once the
// first ends, a serve may start there again. Another pin directory is
// another claim.
func TestOneServePerPinDir(t *testing.T) {
	l := startServe(t, "policy: drop\nrules:\n  - {action: pass, proto: tcp, dport: 22}\n")
	l.await("the first serve's config", 10*time.Second, "drop", 1)

	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, Config{PinDir: l.pin, ConfigFile: other, Log: &log})
	want := fmt.Sprintf("another xdpfw serve (pid %d) keeps the state in %s: one serve per pin directory", os.Getpid(), l.pin)
	if err == nil || err.Error() != want {
		t.Fatalf("a second serve on %s: %v, want %q", l.pin, err, want)
	}
	if ctx.Err() != nil {
		t.Errorf("the second serve ran until its context ended, where it should have been refused at once")
	}
	l.await("the first serve's config, after the second was refused", time.Second, "drop", 1)

	claim, err := claimPinDir(l.pin + "-elsewhere")
	if err != nil {
		t.Fatalf("another pin directory: %v", err)
	}
	claim.Close()

	l.end()
	claim, err = claimPinDir(l.pin)
	if err != nil {
		t.Fatalf("once the first serve ended: %v", err)
	}
	claim.Close()
	if strings.Contains(log.String(), "serving") {
		t.Errorf("the refused serve logged its start:\n%s", log.String())
	}
}
