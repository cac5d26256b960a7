package report

import (
	"encoding/xml"
	"fmt"
	"os"
	"time"
)

// JUnitCase is one check in a JUnit report. Failure empty means the case passed.
type JUnitCase struct {
	Name      string
	ClassName string
	Time      time.Duration
	Failure   string // one-line failure message; empty when passed
	Detail    string // longer text for the failure body or system-out
	Skipped   string // reason, when skipped
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// MarshalJUnit renders one suite of cases as a JUnit XML document.
func MarshalJUnit(suite string, total time.Duration, cases []JUnitCase) ([]byte, error) {
	s := junitSuite{Name: suite, Tests: len(cases), Time: secs(total)}
	for _, c := range cases {
		jc := junitCase{Name: c.Name, ClassName: c.ClassName, Time: secs(c.Time)}
		if jc.ClassName == "" {
			jc.ClassName = suite
		}
		switch {
		case c.Failure != "":
			s.Failures++
			jc.Failure = &junitFailure{Message: c.Failure, Body: c.Detail}
		case c.Skipped != "":
			s.Skipped++
			jc.Skipped = &junitSkipped{Message: c.Skipped}
		default:
			jc.SystemOut = c.Detail
		}
		s.Cases = append(s.Cases, jc)
	}
	b, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{s}}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: junit: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// WriteJUnit writes MarshalJUnit's document to path.
func WriteJUnit(path, suite string, total time.Duration, cases []JUnitCase) error {
	b, err := MarshalJUnit(suite, total, cases)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("report: write junit %s: %w", path, err)
	}
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
