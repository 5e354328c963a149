package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/bandit"
	"github.com/xbot/xbot/internal/dbtest"
)

func TestArmsLoadSavePull(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)

	arms, err := f.st.LoadArms(f.ctx, tx, f.acct, bandit.ScopeTopic, []string{"go", "pg", "go"})
	require.NoError(t, err)
	require.Equal(t, []bandit.Arm{bandit.NewArm("go"), bandit.NewArm("pg")}, arms, "created at the prior, in config order, once")

	require.NoError(t, f.st.SaveArms(f.ctx, tx, f.acct, bandit.ScopeTopic, []bandit.Arm{{Name: "pg", Alpha: 4.5, Beta: 2}, {Name: "old", Alpha: 2, Beta: 9}}))
	require.NoError(t, f.st.RecordPull(f.ctx, tx, f.acct, bandit.ScopeTopic, "pg"))
	require.NoError(t, f.st.RecordPull(f.ctx, tx, f.acct, bandit.ScopeTopic, "pg"))
	require.NoError(t, f.st.RecordPull(f.ctx, tx, f.acct, bandit.ScopeHour, "7"))

	arms, err = f.st.LoadArms(f.ctx, tx, f.acct, bandit.ScopeTopic, []string{"pg", "go", "new"})
	require.NoError(t, err)
	require.Equal(t, []bandit.Arm{{Name: "pg", Alpha: 4.5, Beta: 2, Pulls: 2}, bandit.NewArm("go"), bandit.NewArm("new")}, arms,
		"configured arms only; a removed arm stays stored but is not offered")

	all, err := f.st.LoadArms(f.ctx, tx, f.acct, bandit.ScopeTopic, nil)
	require.NoError(t, err)
	require.Len(t, all, 4)
	hours, err := f.st.LoadArms(f.ctx, tx, f.acct, bandit.ScopeHour, bandit.HourArms())
	require.NoError(t, err)
	require.Len(t, hours, 24)
	require.Equal(t, int64(1), hours[7].Pulls)

	// Saving keeps pulls; the posterior must stay valid.
	require.NoError(t, f.st.SaveArms(f.ctx, tx, f.acct, bandit.ScopeTopic, []bandit.Arm{{Name: "pg", Alpha: 1, Beta: 1}}))
	arms, err = f.st.LoadArms(f.ctx, tx, f.acct, bandit.ScopeTopic, []string{"pg"})
	require.NoError(t, err)
	require.Equal(t, int64(2), arms[0].Pulls)
	require.Error(t, f.st.SaveArms(f.ctx, tx, f.acct, bandit.ScopeTopic, []bandit.Arm{{Name: "pg", Alpha: 0, Beta: 1}}))
}
