package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// annotOperations is the cobra annotation naming the API operations
// (node.Route.OperationID, comma-separated) a command calls. It is the
// explicit operation → command table: TestEveryOperationHasACommand reads
// it from the command tree and fails when a route of node.Server has no
// command, or a command names an operation the server does not have.
const annotOperations = "raaft.operations"

// operation marks c as the command for the API operations ids and returns it.
func operation(c *cobra.Command, ids ...string) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotOperations] = strings.Join(ids, ",")
	return c
}

// commandsByOperation walks the command tree under root and returns each
// annotated operation id with the command path that calls it. An id
// claimed by two commands is an error: the table must be one-to-one per id.
func commandsByOperation(root *cobra.Command) (map[string]string, error) {
	out := map[string]string{}
	var errs []string
	// the tree is a few levels deep; walk it with an explicit stack (no recursion)
	stack := []*cobra.Command{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		stack = append(stack, c.Commands()...)
		v := c.Annotations[annotOperations]
		if v == "" {
			continue
		}
		for _, id := range strings.Split(v, ",") {
			if prev, ok := out[id]; ok {
				errs = append(errs, fmt.Sprintf("operation %s is claimed by %q and %q", id, prev, c.CommandPath()))
			}
			out[id] = c.CommandPath()
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return out, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// oneOf checks a closed-enumeration flag value before anything is sent;
// the node validates again. The message names the flag and what it takes.
func oneOf(flag, v string, allowed []string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return &exitError{exitUsage, fmt.Errorf("--%s %q: expected one of %s", flag, v, strings.Join(allowed, ", "))}
}
