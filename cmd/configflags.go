package cmd

import (
	"fmt"
	"reflect"

	"github.com/spf13/pflag"
)

// keyAnnotation marks a flag with the configuration key it sets (flagConfigKey reads it back): a
// flag that was set overrides the key; its default is the key's embedded default.
const keyAnnotation = "dcproxy/config-key"

// negateAnnotation marks a boolean flag that sets its key to the opposite (--no-probe).
const negateAnnotation = "dcproxy/config-negate"

// keyFlags registers flags bound to configuration keys on one flag set.
type keyFlags struct{ fs *pflag.FlagSet }

// bind registers a flag for key with the key's embedded default and annotates it. It panics when
// key is not a configuration key or the flag kind does not match the key's type: a programming
// error every command's tests would hit at once.
func (k keyFlags) bind(name, short, key, usage string) {
	t, ok := keyType()[key]
	if !ok {
		panic(fmt.Sprintf("flag --%s: %q is not a configuration key", name, key))
	}
	d := embedded()
	switch {
	case t == durationType:
		k.fs.DurationP(name, short, d.GetDuration(key), usage)
	case t.Kind() == reflect.Int:
		k.fs.IntP(name, short, d.GetInt(key), usage)
	case t.Kind() == reflect.Bool:
		k.fs.BoolP(name, short, d.GetBool(key), usage)
	case t.Kind() == reflect.String:
		k.fs.StringP(name, short, d.GetString(key), usage)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		k.fs.StringSliceP(name, short, d.GetStringSlice(key), usage)
	default:
		panic(fmt.Sprintf("flag --%s: key %q of type %s has no flag kind", name, key, t))
	}
	_ = k.fs.SetAnnotation(name, keyAnnotation, []string{key})
}

// negated registers a boolean flag that sets a boolean key to false (--no-probe: probe.enabled).
func (k keyFlags) negated(name, key, usage string) {
	if t := keyType()[key]; t == nil || t.Kind() != reflect.Bool {
		panic(fmt.Sprintf("flag --%s: %q is not a boolean configuration key", name, key))
	}
	k.fs.Bool(name, false, usage)
	_ = k.fs.SetAnnotation(name, keyAnnotation, []string{key})
	_ = k.fs.SetAnnotation(name, negateAnnotation, []string{"true"})
}

// flagConfigKey returns the configuration key a flag sets ("" for none) and whether it negates.
func flagConfigKey(f *pflag.Flag) (key string, negate bool) {
	if v := f.Annotations[keyAnnotation]; len(v) == 1 {
		return v[0], len(f.Annotations[negateAnnotation]) == 1
	}
	return "", false
}
