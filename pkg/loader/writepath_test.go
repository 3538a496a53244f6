package loader

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOneWritePath checks the package's source for the shape change.go
// describes: every exported method of State that is not a reader goes
// through State.change, repairSets runs only from runChange, and `active`
// and meta are written only from a change (tx methods) or the repair.
func TestOneWritePath(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	type fn struct {
		recv  string // receiver type, "" for a function
		calls []string
	}
	funcs := map[string]fn{} // by "Recv.Name" or "Name"
	for _, f := range pkgs["loader"].Files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			var info fn
			name := fd.Name.Name
			if fd.Recv != nil {
				typ := fd.Recv.List[0].Type
				if star, ok := typ.(*ast.StarExpr); ok {
					typ = star.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					info.recv = id.Name
					name = id.Name + "." + name
				}
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch c := call.Fun.(type) {
				case *ast.Ident:
					info.calls = append(info.calls, c.Name)
				case *ast.SelectorExpr:
					info.calls = append(info.calls, "."+c.Sel.Name)
				}
				return true
			})
			funcs[name] = info
		}
	}
	// State methods that reach State.change, directly or through another.
	changes := map[string]bool{"State.change": true}
	for grew := true; grew; {
		grew = false
		for name, f := range funcs {
			if f.recv != "State" || changes[name] {
				continue
			}
			for _, c := range f.calls {
				if strings.HasPrefix(c, ".") && changes["State"+c] {
					changes[name], grew = true, true
					break
				}
			}
		}
	}
	readers := []string{"Ruleset", "RulesetWithSets", "Sets", "SetFamily", "SetElements", "RuleList", "Status", "VerdictCounters",
		"Attachments", "CanAttach", "NewInstance", "Dir", "Close", "Orphans", "CaptureOwner", "InterfaceCounters", "Snapshot", "OpenLog",
		"ConntrackFlows", "ConntrackStats", "CTStateCounters", "Policy",
		"RemoveIfUnused"} // removes the state: no change to it
	for name, f := range funcs {
		method, _ := strings.CutPrefix(name, "State.")
		if f.recv != "State" || !ast.IsExported(method) || slices.Contains(readers, method) {
			continue
		}
		if !changes[name] {
			t.Errorf("%s changes the live state without State.change", name)
		}
	}
	only := map[string]func(caller string, f fn) bool{
		"repairSets":   func(caller string, _ fn) bool { return caller == "runChange" },
		"switchActive": func(_ string, f fn) bool { return f.recv == "tx" },
		"writeMeta":    func(caller string, f fn) bool { return f.recv == "tx" || caller == "setDirty" },
		"setDirty":     func(caller string, f fn) bool { return f.recv == "tx" || caller == "repairSets" },
		// ct_conf: the timeouts with a commit, or as the live config
		// records them before a change, the placed and flushed counts
		// with what puts flows into the table or takes them out (a
		// flush, a seed, a resize).
		"writeConntrack": func(caller string, f fn) bool { return f.recv == "tx" || caller == "syncCTConf" },
		"syncCTConf":     func(caller string, _ fn) bool { return caller == "runChange" },
		"countCTChange": func(caller string, _ fn) bool {
			return caller == "State.FlushConntrack" || caller == "State.seedConnections" || caller == "State.resizeCT"
		},
	}
	for name, f := range funcs {
		for _, c := range f.calls {
			if ok, limited := only[c]; limited && !ok(name, f) {
				t.Errorf("%s calls %s: only the write path may", name, c)
			}
		}
	}
}
