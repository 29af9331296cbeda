// Command sqlcost measures what SQL scripts cost the server: each run on a
// database created for it (untimed) and a fresh backend, as a new ledger's
// creation runs in `ledger up`. It reads the backend's CPU time from
// /proc/<pid>/schedstat (nanoseconds), so the server must run on this
// machine (bench/pg.sh's cluster) and this process must be able to read
// its processes' /proc (root, or the same user).
//
//	sqlcost [-runs 9] [-whole] FILE...
//
// Per statement (default): the script split as psql splits it, each
// statement sent alone inside one transaction (BEGIN, the statements,
// COMMIT), the median CPU and wall time of each over the runs. -whole:
// each file sent as one simple query (one round trip, one implicit
// transaction), the files interleaved in random order in each run.
// {{schema}} and {{schema_lit}} (the ledger's SQL templates) become
// "ledger" and 'ledger'. The database is $DATABASE_URL's server, database
// sqlcost_probe (dropped and created again before each run).
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/sqllex"
)

func main() {
	runs := flag.Int("runs", 9, "runs of each file")
	whole := flag.Bool("whole", false, "send each file as one query, not statement by statement")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: sqlcost [-runs N] [-whole] FILE...")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Getenv("DATABASE_URL"), flag.Args(), *runs, *whole); err != nil {
		fmt.Fprintln(os.Stderr, "sqlcost:", err)
		os.Exit(1)
	}
}

// cost is one measurement: the backend's CPU time and the wall time, in ms.
type cost struct{ cpu, wall float64 }

func run(ctx context.Context, dsn string, files []string, runs int, whole bool) error {
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	probeURL, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	probeURL.Path = "/sqlcost_probe"
	scripts := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		text := strings.NewReplacer("{{schema}}", `"ledger"`, "{{schema_lit}}", "'ledger'").Replace(string(b))
		if whole {
			scripts[f] = []string{text}
			continue
		}
		stmts, err := sqllex.Split(text)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		s := []string{"BEGIN"}
		for _, st := range stmts {
			s = append(s, st.Text)
		}
		scripts[f] = append(s, "COMMIT")
	}
	costs := map[string][][]cost{} // file -> statement -> runs
	for r := 0; r < runs; r++ {
		order := slices.Clone(files)
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, f := range order {
			if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS sqlcost_probe WITH (FORCE)"); err != nil {
				return err
			}
			if _, err := admin.Exec(ctx, "CREATE DATABASE sqlcost_probe"); err != nil {
				return err
			}
			got, err := measure(ctx, probeURL.String(), scripts[f])
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if costs[f] == nil {
				costs[f] = make([][]cost, len(got))
			}
			for i, c := range got {
				costs[f][i] = append(costs[f][i], c)
			}
		}
	}
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS sqlcost_probe WITH (FORCE)")
	for _, f := range files {
		var cpu, wall float64
		fmt.Printf("== %s: medians of %d runs (ms)\n", f, runs)
		for i, cs := range costs[f] {
			c := median(cs)
			cpu, wall = cpu+c.cpu, wall+c.wall
			if !whole {
				fmt.Printf("%7.2f cpu %7.2f wall  %s\n", c.cpu, c.wall, oneLine(scripts[f][i], 90))
			}
		}
		fmt.Printf("%7.2f cpu %7.2f wall  total (sum of the medians)\n", cpu, wall)
	}
	return nil
}

// measure runs the statements on a new connection, each as one simple
// query, and returns what each cost the backend.
func measure(ctx context.Context, dsn string, stmts []string) ([]cost, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	pid := c.PgConn().PID()
	out := make([]cost, 0, len(stmts))
	for _, s := range stmts {
		c0, err := backendCPU(pid)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if _, err := c.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			return nil, fmt.Errorf("%s: %w", oneLine(s, 60), err)
		}
		wall := time.Since(t0)
		// The backend's accounting is updated when it sleeps again.
		time.Sleep(time.Millisecond)
		c1, err := backendCPU(pid)
		if err != nil {
			return nil, err
		}
		out = append(out, cost{cpu: float64(c1-c0) / 1e6, wall: float64(wall.Microseconds()) / 1e3})
	}
	return out, nil
}

// backendCPU is the CPU time the process has run, in nanoseconds.
func backendCPU(pid uint32) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, fmt.Errorf("the backend's CPU time (is the server on this machine?): %w", err)
	}
	return strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
}

func median(cs []cost) cost {
	byCPU := slices.SortedFunc(slices.Values(cs), func(a, b cost) int { return cmp.Compare(a.cpu, b.cpu) })
	byWall := slices.SortedFunc(slices.Values(cs), func(a, b cost) int { return cmp.Compare(a.wall, b.wall) })
	return cost{cpu: byCPU[len(cs)/2].cpu, wall: byWall[len(cs)/2].wall}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n]
	}
	return s
}
