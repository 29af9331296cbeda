package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ---- completion

func cmdCompletion() *command {
	return &command{
		name: "completion", args: "bash|zsh|fish",
		short: "print a shell completion script for ledger's commands and flags",
		long: `Prints a script that completes ledger's commands, the commands of a family
(ledger rollout …) and each command's own flags — only the flags that
command takes. Load it from your shell's start-up file:

  bash:  source <(ledger completion bash)        (in ~/.bashrc)
  zsh:   source <(ledger completion zsh)         (in ~/.zshrc)
  fish:  ledger completion fish | source         (in ~/.config/fish/config.fish)`,
		example:  "  ledger completion bash > /etc/bash_completion.d/ledger",
		nargs:    1,
		argsWant: "one shell: bash, zsh or fish",
		newFlags: func() runnable { return &completionCmd{} },
	}
}

type completionCmd struct{}

func (c *completionCmd) flags(*flag.FlagSet, *env) {}

func (c *completionCmd) run(ctx context.Context, e *env, args []string) int {
	words := completionWords()
	switch args[0] {
	case "bash":
		writeBash(e.stdout, words)
	case "zsh":
		fmt.Fprintln(e.stdout, "# ledger completion for zsh, through its bash completion support")
		fmt.Fprintln(e.stdout, "autoload -U +X bashcompinit && bashcompinit")
		writeBash(e.stdout, words)
	case "fish":
		writeFish(e.stdout, words)
	default:
		return e.usageErr("shell %q: want bash, zsh or fish", args[0])
	}
	return exitOK
}

// completed is one command as completion sees it: its full name, what it
// does, its flags (with their help) and its subcommands.
type completed struct {
	path, short string
	flags       []*flag.Flag
	subs        []string
}

// completionWords walks every command and registers its flags, as a run
// would, to list them.
func completionWords() []completed {
	var out []completed
	var walk func(prefix string, cmds []*command)
	walk = func(prefix string, cmds []*command) {
		for _, c := range cmds {
			w := completed{path: strings.TrimSpace(prefix + " " + c.name), short: c.short}
			if c.newFlags != nil {
				c.flagSet().VisitAll(func(f *flag.Flag) { w.flags = append(w.flags, f) })
			}
			for _, s := range c.subs {
				w.subs = append(w.subs, s.name)
			}
			out = append(out, w)
			walk(w.path, c.subs)
		}
	}
	walk("", commands())
	return out
}

func writeBash(w io.Writer, words []completed) {
	var top []string
	for _, c := range words {
		if !strings.Contains(c.path, " ") {
			top = append(top, c.path)
		}
	}
	fmt.Fprintf(w, `# ledger completion for bash: source <(ledger completion bash)
_ledger() {
  local cur=${COMP_WORDS[COMP_CWORD]} path="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in -*) ;; *) path="${path:+$path }${COMP_WORDS[i]}" ;; esac
  done
  local words
  case "$path" in
    "") words=%q ;;
`, "help "+strings.Join(top, " "))
	for _, c := range words {
		var ws []string
		ws = append(ws, c.subs...)
		for _, f := range c.flags {
			ws = append(ws, "--"+f.Name)
		}
		sort.Strings(ws)
		fmt.Fprintf(w, "    %q) words=%q ;;\n", c.path, strings.Join(ws, " "))
	}
	fmt.Fprint(w, `    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _ledger ledger
`)
}

func writeFish(w io.Writer, words []completed) {
	fmt.Fprintln(w, "# ledger completion for fish: ledger completion fish | source")
	fmt.Fprintln(w, "complete -c ledger -f")
	for _, c := range words {
		parts := strings.Fields(c.path)
		if len(parts) == 1 {
			fmt.Fprintf(w, "complete -c ledger -n __fish_use_subcommand -a %s -d %s\n", fishQuote(c.path), fishQuote(c.short))
		} else {
			fmt.Fprintf(w, "complete -c ledger -n %s -a %s -d %s\n", fishQuote("__fish_seen_subcommand_from "+parts[0]), fishQuote(parts[len(parts)-1]), fishQuote(c.short))
		}
		for _, f := range c.flags {
			usage := strings.ReplaceAll(f.Usage, "`", "")
			fmt.Fprintf(w, "complete -c ledger -n %s -l %s -d %s\n", fishQuote("__fish_seen_subcommand_from "+parts[len(parts)-1]), f.Name, fishQuote(firstLine(usage)))
		}
	}
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}
