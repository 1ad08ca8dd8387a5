// Differential oracle: decode config.toml texts the way gitlab-runner does and print what it
// read. gitlab-runner's common/config.go LoadConfig reads the file and calls
// toml.Decode(string(data), config) (BurntSushi/toml) into the structs below; only the
// fields the admission rules look at are modelled, with the same toml tags and Go types.
//
// Input: one JSON string per line on stdin (a config text). Output: one JSON object per line,
// {"ok":true,"runners":[...],"undecided":[...]} or {"ok":false,"error":"..."}.
package main

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/BurntSushi/toml"
)

// RunnerCredentials and RunnerConfig, as in gitlab-runner common/config.go (subset).
type RunnerCredentials struct {
	URL   string `toml:"url"`
	Token string `toml:"token"`
}

type RunnerConfig struct {
	Name     string `toml:"name"`
	Executor string `toml:"executor"`
	RunnerCredentials
}

type Config struct {
	ListenAddress string          `toml:"listen_address"`
	Concurrent    int             `toml:"concurrent"`
	CheckInterval int             `toml:"check_interval"`
	LogLevel      *string         `toml:"log_level"`
	Runners       []*RunnerConfig `toml:"runners"`
}

type runnerOut struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Token    string `json:"token"`
	Executor string `json:"executor"`
}

type out struct {
	OK      bool        `json:"ok"`
	Error   string      `json:"error,omitempty"`
	Runners []runnerOut `json:"runners,omitempty"`
}

func decode(text string) (res out) {
	defer func() {
		if r := recover(); r != nil {
			res = out{OK: false, Error: "panic"}
		}
	}()
	var c Config
	if _, err := toml.Decode(text, &c); err != nil {
		return out{OK: false, Error: err.Error()}
	}
	res = out{OK: true, Runners: []runnerOut{}}
	for _, r := range c.Runners {
		if r == nil {
			continue
		}
		res.Runners = append(res.Runners, runnerOut{r.Name, r.URL, r.Token, r.Executor})
	}
	return res
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	for in.Scan() {
		var text string
		if err := json.Unmarshal(in.Bytes(), &text); err != nil {
			_ = enc.Encode(out{OK: false, Error: "oracle: bad input line"})
		} else {
			_ = enc.Encode(decode(text))
		}
		_ = w.Flush()
	}
}
