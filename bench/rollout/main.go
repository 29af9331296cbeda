// Command rollout runs one fleet rollout for the benchmarks in bench/
// (rollout.sh): the library's Start over a targets file, printing the
// counts and the wall time. It is what `ledger rollout` runs, without the
// CLI's rendering.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/migrations"
)

func main() {
	targetsFile := flag.String("targets", "", "targets file")
	tenantsDB := flag.String("tenants-db", "", "schema-per-tenant: the database URL (every schema LIKE -tenants is a tenant)")
	tenants := flag.String("tenants", "tenant\\_%", "LIKE pattern of the tenant schemas")
	dir := flag.String("dir", "", "migration directory")
	controlURL := flag.String("control", "", "control database URL")
	parallel := flag.Int("parallel", 0, "targets at once (0: the default)")
	cpuProfile := flag.String("cpuprofile", "", "write the controller's CPU profile to this file")
	floor := flag.Bool("floor", false, "no rollout: connect to each target and close, -parallel at once (the floor a rollout stands on)")
	flag.Parse()
	if *floor {
		if err := connectEach(*targetsFile, *parallel); err != nil {
			fmt.Fprintln(os.Stderr, "rollout:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rollout:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*targetsFile, *tenantsDB, *tenants, *dir, *controlURL, *parallel); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "rollout:", err)
		os.Exit(1)
	}
}

func run(targetsFile, tenantsDB, tenants, dir, controlURL string, parallel int) error {
	ctx := context.Background()
	start := time.Now()
	set, err := migrations.LoadDir(dir)
	if err != nil {
		return err
	}
	cp, err := pgxpool.New(ctx, controlURL)
	if err != nil {
		return err
	}
	defer cp.Close()
	var targets []fleet.Target
	if tenantsDB != "" {
		tp, err := pgxpool.New(ctx, tenantsDB)
		if err != nil {
			return err
		}
		targets, err = fleet.Tenants(ctx, tp, tenantsDB, tenants, "ledger")
		tp.Close()
		if err != nil {
			return err
		}
	} else {
		var f *os.File
		if f, err = os.Open(targetsFile); err != nil {
			return err
		}
		targets, err = fleet.ParseTargets(f, targetsFile)
		f.Close()
	}
	if err != nil {
		return err
	}
	ctl, err := fleet.NewControl(cp, "", "")
	if err != nil {
		return err
	}
	rep, err := fleet.Start(ctx, ctl, set, targets, fleet.Options{AppVersion: "1.0.0", Parallel: parallel})
	if err != nil {
		return err
	}
	out, _ := json.Marshal(struct {
		ID       string       `json:"id"`
		Targets  int          `json:"targets"`
		Counts   fleet.Counts `json:"counts"`
		Finished bool         `json:"finished"`
		Halted   string       `json:"halted,omitempty"`
		WallMS   int64        `json:"wall_ms"`
	}{rep.ID, len(targets), rep.Counts, rep.Finished, rep.Halted, time.Since(start).Milliseconds()})
	fmt.Println(string(out))
	if !rep.Finished {
		return fmt.Errorf("not finished: %+v", rep.Counts)
	}
	return nil
}

// connectEach connects to each target of the file and closes the
// connection, parallel at once (0: fleet.DefaultParallel): a backend
// started and stopped per database, which no rollout can spend less than.
func connectEach(targetsFile string, parallel int) error {
	ctx := context.Background()
	start := time.Now()
	f, err := os.Open(targetsFile)
	if err != nil {
		return err
	}
	targets, err := fleet.ParseTargets(f, targetsFile)
	f.Close()
	if err != nil {
		return err
	}
	if parallel <= 0 {
		parallel = fleet.DefaultParallel
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	sem := make(chan struct{}, parallel)
	for _, t := range targets {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := pgconn.Connect(ctx, t.URL)
			if err == nil {
				err = c.Close(ctx)
			}
			if err != nil {
				mu.Lock()
				ferr = errors.Join(ferr, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ferr != nil {
		return ferr
	}
	fmt.Printf("{\"floor\":true,\"targets\":%d,\"wall_ms\":%d}\n", len(targets), time.Since(start).Milliseconds())
	return nil
}
