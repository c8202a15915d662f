package console

import (
	"fmt"
	"github.com/raaft/raaft/protocol"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/raaft/raaft/ledger"
)

// pageNames are the page templates; each is parsed with the layout.
var pageNames = []string{"signin", "continue", "error", "search", "listing", "holds", "fees", "federation"}

func (c *Console) parseTemplates() error {
	c.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(c.funcs()).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// oblView is one obligations table's model.
type oblView struct {
	List    []ledger.Obligation
	Side    string // creditor | debtor: our side
	CSRF    string
	Finance bool // the user may act (finance role)
	Data    *feesData
}

// need is one need category and the level an approval is open to.
type need struct{ Name, Level string }

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"join": strings.Join,
		"roleLabel": func(r string) string {
			return map[string]string{protocol.RoleMatching: "Matching officer", protocol.RoleFinance: "Finance officer", protocol.RoleOperator: "Node operator", protocol.RoleAuditor: "Auditor"}[r]
		},
		"trimMin": func(s string) string { return strings.TrimSuffix(s, "_min") },
		"list":    func(s ...string) []string { return s },
		"title": func(s string) string {
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		// human turns a code (south_east, fee_invoice) into words.
		"human": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
		"yesno": func(b bool) string {
			if b {
				return "yes"
			}
			return "no"
		},
		"index1": func(q map[string][]string, k string) string {
			if v := q[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		},
		"date": func(ms int64) string {
			if ms == 0 {
				return "—"
			}
			return time.UnixMilli(ms).UTC().Format("Mon 2 Jan 2006 15:04 MST")
		},
		"left":        func(ms int64) string { return timeLeft(time.UnixMilli(ms), c.cfg.Now()) },
		"pounds":      pounds,
		"poundsPlain": func(p int64) string { return strings.TrimPrefix(strings.ReplaceAll(pounds(p), ",", ""), "£") },
		"minus":       func(a, b int64) int64 { return a - b },
		"idem":        newIdemKey,
		"needs": func(n ledger.Needs) []need {
			out := make([]need, 0, len(ledger.NeedCategories))
			for i, l := range n.Levels() {
				out = append(out, need{ledger.NeedCategories[i], l.String()})
			}
			return out
		},
		"obl": func(list []ledger.Obligation, side, csrf string, fin bool, d *feesData) oblView {
			return oblView{List: list, Side: side, CSRF: csrf, Finance: fin, Data: d}
		},
	}
}

// pounds formats pence as £1,234.56.
func pounds(p int64) string {
	sign := ""
	if p < 0 {
		sign, p = "-", -p
	}
	whole := strconv.FormatInt(p/100, 10)
	var b strings.Builder
	for i, ch := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return fmt.Sprintf("%s£%s.%02d", sign, b.String(), p%100)
}

// timeLeft says how long until t, in days and hours ("27 days 4 hours"),
// or that it has passed.
func timeLeft(t, now time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "no time (past due; it expires at the next housekeeping)"
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days == 0 && hours == 0:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	case days == 0:
		return plural(hours, "hour")
	case hours == 0:
		return plural(days, "day")
	}
	return plural(days, "day") + " " + plural(hours, "hour")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
