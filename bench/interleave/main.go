// Command interleave times commands the way a ratio between them should be
// timed on a shared machine: every round runs each command once, in a new
// random order, so that whatever the machine does meanwhile (another
// tenant, a checkpoint, the CPU's clock) falls on all of them alike. hyperfine
// runs one command's runs back to back, and two of its runs a minute apart
// gave the same ratio as 1.23 and 1.64 here.
//
//	interleave [-runs N] [-warmup N] [-csv FILE] -n NAME [-p 'PREPARE ARGS'] 'CMD ARGS' [-n NAME ...]
//
// -p gives the command before it a preparation, run untimed before each of
// its runs (e.g. a `down` of one migration before timing an `up` of one).
// A command is split into words on spaces; 'single quotes' keep spaces in a
// word. No shell runs it. The CSV has hyperfine's columns (command, mean,
// stddev, median, user, system, min, max; seconds), so scripts read either.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

type command struct {
	name      string
	argv      []string
	prepare   []string  // run untimed before each run
	wall      []float64 // seconds
	user, sys []float64
}

func main() {
	runs := flag.Int("runs", 200, "rounds: each command runs once per round")
	warmup := flag.Int("warmup", 3, "rounds run first and not counted")
	out := flag.String("csv", "", "write the results as CSV (hyperfine's columns) to `file`")
	flag.Func("ok", "also accept exit `code` from the commands (e.g. 3: ledger check's \"migrate\"); repeatable", func(v string) error {
		code, err := strconv.Atoi(v)
		if err == nil {
			okCodes[code] = true
		}
		return err
	})
	var cmds []*command
	flag.Func("n", "the `name` of the command that follows", func(name string) error {
		cmds = append(cmds, &command{name: name})
		return nil
	})
	flag.Func("p", "a `command` run untimed before each run of the named command", func(p string) error {
		if len(cmds) == 0 || cmds[len(cmds)-1].argv != nil {
			return fmt.Errorf("-p %q: give it after -n NAME and before the command", p)
		}
		argv, err := split(p)
		if err != nil || len(argv) == 0 {
			return fmt.Errorf("-p %q: %v", p, err)
		}
		cmds[len(cmds)-1].prepare = argv
		return nil
	})
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: interleave [-runs N] [-warmup N] [-csv FILE] -n NAME [-p 'PREPARE ARGS'] 'CMD ARGS' [-n NAME ...]")
		flag.PrintDefaults()
	}
	// The flag package stops at the first non-flag argument: each command
	// follows its -n NAME.
	args := os.Args[1:]
	for len(args) > 0 {
		if err := flag.CommandLine.Parse(args); err != nil {
			os.Exit(2)
		}
		args = flag.Args()
		if len(args) == 0 {
			break
		}
		if len(cmds) == 0 || cmds[len(cmds)-1].argv != nil {
			fmt.Fprintf(os.Stderr, "interleave: %q: give each command a name first (-n NAME)\n", args[0])
			os.Exit(2)
		}
		argv, err := split(args[0])
		if err != nil || len(argv) == 0 {
			fmt.Fprintf(os.Stderr, "interleave: command %q: %v\n", args[0], err)
			os.Exit(2)
		}
		cmds[len(cmds)-1].argv = argv
		args = args[1:]
	}
	if len(cmds) == 0 || cmds[len(cmds)-1].argv == nil {
		flag.Usage()
		os.Exit(2)
	}
	order := make([]int, len(cmds))
	for i := range order {
		order[i] = i
	}
	for round := range *warmup + *runs {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			c := cmds[i]
			if c.prepare != nil {
				if _, _, _, err := run(c.prepare); err != nil {
					fmt.Fprintf(os.Stderr, "interleave: %s: prepare: %v\n", c.name, err)
					os.Exit(1)
				}
			}
			wall, user, sys, err := run(c.argv)
			if err != nil {
				fmt.Fprintf(os.Stderr, "interleave: %s: %v\n", c.name, err)
				os.Exit(1)
			}
			if round >= *warmup {
				c.wall, c.user, c.sys = append(c.wall, wall), append(c.user, user), append(c.sys, sys)
			}
		}
	}
	for _, c := range cmds {
		fmt.Printf("%8.2f ms median (p25 %.2f, p75 %.2f)  %s\n", ms(quantile(c.wall, 0.5)), ms(quantile(c.wall, 0.25)), ms(quantile(c.wall, 0.75)), c.name)
	}
	if *out != "" {
		if err := writeCSV(*out, cmds); err != nil {
			fmt.Fprintln(os.Stderr, "interleave:", err)
			os.Exit(1)
		}
	}
}

// okCodes are the exit codes besides 0 that count as success (-ok).
var okCodes = map[int]bool{}

// run runs argv once, its output discarded, and returns its wall, user and
// system time in seconds; a command that fails is an error.
func run(argv []string) (wall, user, sys float64, err error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start).Seconds()
	var exit *exec.ExitError
	if errors.As(err, &exit) && okCodes[exit.ExitCode()] {
		err = nil
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return wall, cmd.ProcessState.UserTime().Seconds(), cmd.ProcessState.SystemTime().Seconds(), nil
}

// split splits s into words on spaces; 'single quotes' keep a word whole.
func split(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, inWord := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			in, inWord = !in, true
		case r == ' ' && !in:
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if in {
		return nil, fmt.Errorf("unclosed quote")
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(s float64) float64 { return s * 1000 }

func mean(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func writeCSV(path string, cmds []*command) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"command", "mean", "stddev", "median", "user", "system", "min", "max"})
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', 9, 64) }
	for _, c := range cmds {
		m := mean(c.wall)
		v := 0.0
		for _, x := range c.wall {
			v += (x - m) * (x - m)
		}
		_ = w.Write([]string{c.name, num(m), num(math.Sqrt(v / float64(len(c.wall)))), num(quantile(c.wall, 0.5)),
			num(mean(c.user)), num(mean(c.sys)), num(slices.Min(c.wall)), num(slices.Max(c.wall))})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
