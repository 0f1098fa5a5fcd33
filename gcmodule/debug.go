package gcmodule

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
)

// Debug flags (gc.DEBUG_*), for SetDebug.
const (
	DebugStats         = 1 << 0                                               // DEBUG_STATS: print statistics during collection
	DebugCollectable   = 1 << 1                                               // DEBUG_COLLECTABLE: print collectable objects found
	DebugUncollectable = 1 << 2                                               // DEBUG_UNCOLLECTABLE: print uncollectable objects found
	DebugSaveAll       = 1 << 5                                               // DEBUG_SAVEALL: append every unreachable object to Garbage instead of freeing it
	DebugLeak          = DebugCollectable | DebugUncollectable | DebugSaveAll // DEBUG_LEAK
)

// debugCycle is debug_cycle: "gc: collectable <list 0x7f...>".
func (c *Collector) debugCycle(msg string, o Object) {
	fmt.Fprintf(c.output(), "gc: %s %s\n", msg, repr(o))
}

// showStatsEachGenerations is show_stats_each_generations.
func (c *Collector) showStatsEachGenerations() {
	var b strings.Builder
	for i := 0; i < NumGenerations; i++ {
		fmt.Fprintf(&b, " %d", gcListSize(c.gens[i].head))
	}
	fmt.Fprintf(c.output(), "gc: objects in each generation:%s\ngc: objects in permanent generation: %d\n",
		b.String(), gcListSize(c.permanent))
}

// Unraisable describes a panic that the collector caught in code it
// called and could not hand to a caller: a finalizer, a legacy finalizer,
// a weak reference callback, a collection callback, a tp_clear (CPython
// reports those exceptions through sys.unraisablehook and carries on).
type Unraisable struct {
	Err any // the value passed to panic
	// Msg is the context: "Exception ignored" followed by Msg; "" means
	// "in", and with Desc "" too the default hook prints no such line.
	Msg string
	// Object is the object whose code panicked, or Nil: a collection
	// callback is a Go function, not an object (Desc names it, as
	// "<function main.onCollect at 0x8720a8>"), and a Clear is
	// reported against its type, as CPython reports tp_clear's exceptions
	// (Desc "<class 'Name'>").
	Object Object
	Desc   string // what that was, as printed, e.g. "<A 0x7f...>"
}

// funcDesc is a Go function's stand-in for a Python function's repr,
// "<function name at 0x...>", or "" for nil: the name is the runtime's,
// without the package's import path (and without the "-fm" of a method
// value's wrapper), and the address is the func value's, which is what
// tells two closures of the same code apart, as id() tells two functions
// apart.
func funcDesc(cb Callback) string {
	if cb == nil {
		return "" // as CPython's None: nothing to name
	}
	name := "?"
	if f := runtime.FuncForPC(reflect.ValueOf(cb).Pointer()); f != nil {
		name = f.Name()
		name = name[strings.LastIndexByte(name, '/')+1:]
		name = strings.TrimSuffix(name, "-fm")
	}
	return fmt.Sprintf("<function %s at %#x>", name, callbackID(cb))
}

// SetUnraisableHook sets what receives caught panics (sys.unraisablehook);
// nil restores the default, which prints them to the debug output:
//
//	Exception ignored in: <A 0x7f3a2c1e0a30>
//	panic: boom
func (c *Collector) SetUnraisableHook(hook func(Unraisable)) {
	c.checkOpen("SetUnraisableHook")
	c.unraisable = hook
}

// catch is deferred around calls into user code.
func (c *Collector) catch(msg string, o Object) {
	if r := recover(); r != nil {
		c.unraisableMsg(r, msg, o)
	}
}

// catchType is catch for code whose panic CPython reports against the
// object's type (tp_clear's): with no type objects here, the report
// carries the type's repr and no object.
func (c *Collector) catchType(msg string, t *typeDesc) {
	if r := recover(); r != nil {
		c.report(Unraisable{Err: r, Msg: msg, Desc: "<class '" + t.name + "'>"})
	}
}

func (c *Collector) unraisableMsg(err any, msg string, o Object) {
	u := Unraisable{Err: err, Msg: msg, Object: o}
	if o != Nil {
		u.Desc = repr(o)
	}
	c.report(u)
}

// report hands u to the unraisable hook, or prints it.
func (c *Collector) report(u Unraisable) {
	err, ctx := u.Err, u.Msg
	if c.unraisable != nil {
		c.unraisable(u)
		return
	}
	switch {
	case u.Desc != "":
		if ctx == "" {
			ctx = "in"
		}
		fmt.Fprintf(c.output(), "Exception ignored %s: %s\npanic: %v\n", ctx, u.Desc, err)
	case ctx != "":
		fmt.Fprintf(c.output(), "Exception ignored %s\npanic: %v\n", ctx, err)
	default:
		// Nothing to say where: CPython's hook prints only the traceback
		// when it has neither message nor object (a None in gc.callbacks).
		fmt.Fprintf(c.output(), "panic: %v\n", err)
	}
}
