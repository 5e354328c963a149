package store_test

import (
	"testing"

	"github.com/xbot/xbot/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
