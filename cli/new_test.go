package cli

import (
	"testing"
	"time"
)

func TestNextNumber(t *testing.T) {
	now := time.Date(2026, 11, 30, 6, 30, 0, 0, time.FixedZone("CET", 3600))
	cases := []struct {
		n    numbering
		want string
	}{
		{numbering{width: 4}, "0001"},
		{numbering{width: 4, last: "0009"}, "0010"},
		{numbering{width: 6, last: "000099"}, "000100"},
		{numbering{width: 1, last: "9"}, "10"},
		{numbering{timestamp: true, last: "20240101000000"}, "20261130053000"}, // UTC
		{numbering{timestamp: true, last: "20991231235959"}, "21000101000000"}, // clock behind the newest: one second past it
	}
	for _, c := range cases {
		got, err := c.n.next(now)
		if err != nil || got != c.want {
			t.Errorf("%+v: next = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
	for in, want := range map[string]string{"Add orders status": "add_orders_status", "orders-idx": "orders_idx", "v1.9.0 schema": "v1.9.0_schema"} {
		if got, err := migrationName(in); err != nil || got != want {
			t.Errorf("migrationName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
