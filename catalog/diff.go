package catalog

import "fmt"

// Change is one object that appeared (Op '+'), disappeared ('-') or
// changed ('~') from one snapshot to the next.
type Change struct {
	Op     byte   `json:"-"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Def    string `json:"def,omitempty"`     // '+', '~': the definition now
	OldDef string `json:"old_def,omitempty"` // '-', '~': the definition before
}

// String is the change's one line: "+ column public.users.x integer null",
// "- index public.users_email_idx CREATE ...", or
// "~ column public.users.x integer null -> bigint null".
func (c Change) String() string {
	switch c.Op {
	case '+':
		return "+ " + Object{c.Kind, c.Name, c.Def}.String()
	case '-':
		return "- " + Object{c.Kind, c.Name, c.OldDef}.String()
	}
	return fmt.Sprintf("~ %s %s: %s -> %s", c.Kind, c.Name, orNone(c.OldDef), orNone(c.Def))
}

func orNone(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return s
}

// Diff lists what changed from old to new, in the order of the objects'
// keys. Equal snapshots give none.
func Diff(old, new Snapshot) []Change {
	if old.Fingerprint != "" && old.Fingerprint == new.Fingerprint {
		return nil
	}
	before := make(map[string]Object, len(old.Objects))
	for _, o := range old.Objects {
		before[o.Key()] = o
	}
	var out []Change
	seen := make(map[string]bool, len(new.Objects))
	// Both are sorted by kind and name, so one merge pass keeps the order.
	i := 0
	emitRemoved := func(upTo Object, all bool) {
		for ; i < len(old.Objects); i++ {
			o := old.Objects[i]
			if !all && compareKeys(o, upTo) >= 0 {
				return
			}
			if !seen[o.Key()] {
				out = append(out, Change{Op: '-', Kind: o.Kind, Name: o.Name, OldDef: o.Def})
			}
		}
	}
	for _, o := range new.Objects {
		emitRemoved(o, false)
		k := o.Key()
		if seen[k] {
			continue // a duplicate key: the catalog has one object per name and kind
		}
		seen[k] = true
		was, ok := before[k]
		switch {
		case !ok:
			out = append(out, Change{Op: '+', Kind: o.Kind, Name: o.Name, Def: o.Def})
		case was.Def != o.Def:
			out = append(out, Change{Op: '~', Kind: o.Kind, Name: o.Name, Def: o.Def, OldDef: was.Def})
		}
	}
	emitRemoved(Object{}, true)
	return out
}

func compareKeys(a, b Object) int {
	if a.Kind != b.Kind {
		if a.Kind < b.Kind {
			return -1
		}
		return 1
	}
	if a.Name != b.Name {
		if a.Name < b.Name {
			return -1
		}
		return 1
	}
	return 0
}

// Lines renders changes one per line.
func Lines(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.String()
	}
	return out
}
