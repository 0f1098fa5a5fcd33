package pytrace

// FormatExample is the example trace of traces/FORMAT.md: seven ops, with
// blocks 4 and 5 live at the end. Tests of every package that reads traces
// start from it.
const FormatExample = `# pytrace 1
m 1 56
c 2 1 48
r 0 3 16
r 1 4 120
f 3
m 5 0
f 2
`
