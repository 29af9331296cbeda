package projector

import "encoding/json"

// IDs returns the migration ids an event names (none for events about the
// ledger itself). The event store uses it to read just the projection rows an
// append touches. A payload that does not decode names no id; Apply reports it.
func IDs(e Event) []string {
	var p struct {
		ID         string `json:"id"`
		Migrations []struct {
			ID string `json:"id"`
		} `json:"migrations"`
	}
	if json.Unmarshal(e.Payload, &p) != nil {
		return nil
	}
	var ids []string
	if p.ID != "" {
		ids = append(ids, p.ID)
	}
	for _, m := range p.Migrations {
		ids = append(ids, m.ID)
	}
	return ids
}
