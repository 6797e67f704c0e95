package cmdexe

import (
	"strconv"
	"strings"
)

// notSimulated is the error a parse or expansion step returns for a construct the simulator does
// not implement; Run reports it on stderr and exits with code 9009.
type notSimulated struct{ what string }

func (e *notSimulated) Error() string {
	return "cmd.exe construct " + strconv.Quote(e.what) + " is not simulated"
}

// failLoud is a shorthand for a *notSimulated error.
func failLoud(what string) error { return &notSimulated{what: what} }

// expandPercent performs cmd.exe's phase-1 percent expansion of a command line in command-line
// (not batch) mode, once, for the whole line, quotes notwithstanding:
//   - %NAME% is replaced by the variable's value (names compare case-insensitively and may contain
//     spaces);
//   - for an undefined NAME the first '%' stays literal and scanning resumes right after it, so
//     "%a %b% c%" with only b=a set gives "%a a c%";
//   - "%%" is not an escape in command-line mode; a '%' without a closing '%' stays literal.
//
// %NAME:...% (substring or substitution) of a defined variable and the dynamic variables the
// simulator does not model fail loudly.
func (st *runState) expandPercent(line string) (string, error) {
	if !strings.Contains(line, "%") {
		return line, nil
	}
	var b strings.Builder
	for i := 0; i < len(line); {
		c := line[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(line[i+1:], '%')
		if j < 0 {
			b.WriteString(line[i:])
			break
		}
		name := line[i+1 : i+1+j]
		val, ok, err := st.lookupVar(name)
		if err != nil {
			return "", err
		}
		if ok {
			b.WriteString(val)
			i += j + 2
			continue
		}
		b.WriteByte('%')
		i++
	}
	return b.String(), nil
}

// lookupVar resolves one %NAME% reference: environment first, then cmd.exe's dynamic variables.
func (st *runState) lookupVar(name string) (string, bool, error) {
	if name == "" {
		return "", false, nil
	}
	base, mod, hasMod := strings.Cut(name, ":")
	val, ok, err := st.varValue(base)
	if err != nil || !ok {
		return "", false, err
	}
	if hasMod {
		return "", false, failLoud("%" + base + ":" + mod + "% (variable substring/substitution)")
	}
	return val, true, nil
}

func (st *runState) varValue(name string) (string, bool, error) {
	if v, ok := st.env[strings.ToUpper(name)]; ok {
		return v, true, nil
	}
	if strings.HasPrefix(name, "=") {
		return "", false, failLoud("%" + name + "% (hidden dynamic variable)")
	}
	switch strings.ToUpper(name) {
	case "ERRORLEVEL":
		return strconv.Itoa(st.errorlevel), true, nil
	case "CD":
		return st.cwd, true, nil
	case "CMDEXTVERSION":
		return "2", true, nil
	case "DATE", "TIME", "RANDOM", "CMDCMDLINE", "HIGHESTNUMANODENUMBER", "__CD__", "__APPDIR__":
		return "", false, failLoud("%" + name + "% (dynamic variable)")
	}
	return "", false, nil
}
