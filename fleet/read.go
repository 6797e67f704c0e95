package fleet

import (
	"context"
	"errors"
	"fmt"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

// Values is what the registry read of one host found: the raw value per query ID (nil = absent).
// The IDs are the accounts (AccountCurrentUser, ..., AccountMachine) for DefaultConnectionSettings
// and WinHttpSettings, and SavedLegacyID(account) for SavedLegacySettings when it was read.
type Values map[string][]byte

var readQueries = []reg.Query{
	{ID: AccountCurrentUser, Key: AccountKey(AccountCurrentUser), Value: ValueName},
	{ID: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName},
	{ID: AccountLocalService, Key: AccountKey(AccountLocalService), Value: ValueName},
	{ID: AccountMachine, Key: AccountKey(AccountMachine), Value: WinHTTPValue},
}

// savedLegacyAccounts are the accounts whose SavedLegacySettings are read with the option.
var savedLegacyAccounts = []string{AccountCurrentUser, AccountLocalSystem, AccountLocalService}

// readQueriesSaved is readQueries plus the SavedLegacySettings of HKCU and both service accounts.
var readQueriesSaved = func() []reg.Query {
	qs := append([]reg.Query{}, readQueries...)
	for _, a := range savedLegacyAccounts {
		qs = append(qs, reg.Query{ID: SavedLegacyID(a), Key: AccountKey(a), Value: SavedLegacyValue})
	}
	return qs
}()

// SavedLegacyID is the Values key of an account's SavedLegacySettings.
func SavedLegacyID(account string) string { return "SAVED_" + account }

// valueID is the Values key of an account's value: the account for DefaultConnectionSettings,
// SavedLegacyID for SavedLegacySettings.
func valueID(account, value string) string {
	if value == SavedLegacyValue {
		return SavedLegacyID(account)
	}
	return account
}

// ReadValues reads the four values with one command line.
func ReadValues(ctx context.Context, r remote.Runner) (Values, error) {
	return readValues(ctx, r, false)
}

// readValues reads the four values, and with saved the three SavedLegacySettings too, with one
// command line. Every value must be REG_BINARY (a SavedLegacySettings of another type is an error
// of the read like any other: WinINet never writes one, and guessing would risk a wrong backup).
func readValues(ctx context.Context, r remote.Runner, saved bool) (Values, error) {
	qs := readQueries
	if saved {
		qs = readQueriesSaved
	}
	line, err := reg.BatchQueryCommand(qs)
	if err != nil {
		return nil, err
	}
	out, err := r.Run(ctx, line)
	if err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	res, err := reg.ParseBatch(string(out.Stdout), qs)
	if err != nil {
		return nil, fmt.Errorf("read registry: %w: %w", remote.ErrProtocol, err)
	}
	v := Values{}
	for _, x := range res {
		if !x.Found {
			v[x.ID] = nil
			continue
		}
		if x.Type != "REG_BINARY" {
			return nil, fmt.Errorf("read registry: %s\\%s is %s, not REG_BINARY: %w", readKey(x.ID), valueOf(x.ID), x.Type, errNotBinary)
		}
		v[x.ID] = x.Data
	}
	return v, nil
}

var errNotBinary = errors.New("unexpected value type")

func readKey(id string) string {
	for _, q := range readQueriesSaved {
		if q.ID == id {
			return q.Key
		}
	}
	return id
}

func valueOf(id string) string {
	for _, q := range readQueriesSaved {
		if q.ID == id {
			return q.Value
		}
	}
	return ValueName
}

// savedLegacyOf is the report's view of the SavedLegacySettings in vals, per account (nil when
// they were not read).
func savedLegacyOf(vals Values) map[string]*Settings {
	var out map[string]*Settings
	for _, a := range savedLegacyAccounts {
		raw, ok := vals[SavedLegacyID(a)]
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]*Settings{}
		}
		key := AccountKey(a)
		switch s, err := wininet.Decode(raw); {
		case raw == nil:
			out[a] = &Settings{Present: false, Source: key}
		case err != nil:
			out[a] = &Settings{Present: true, Source: key, Raw: hexUpper(raw), DecodeError: err.Error(), bytes: raw, read: true}
		default:
			out[a] = view(&s, raw, key)
		}
	}
	return out
}
