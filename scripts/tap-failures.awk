# Prints each failed test of a TAP file (node's reporter) with its location
# and error (its first 40 lines), without stacks: a run's tail must name
# what failed.
# Parents that failed only through a subtest (subtestsFailed) are left out.
function flush() {
  if (name != "" && kind != "subtestsFailed") { print "✖ " suite ": " name; printf "%s", body }
  name = ""; body = ""; kept = 0; kind = ""; field = ""
}
/^ *not ok [0-9]+ - / { flush(); name = $0; sub(/^ *not ok [0-9]+ - /, "", name); match($0, /^ */); indent = RLENGTH + 2; inblock = 1; next }
/^ *ok [0-9]+ - / { flush(); inblock = 0; next }
!inblock { next }
/^ *\.\.\.$/ { inblock = 0; next }
/^ *[a-zA-Z_]+:( |$)/ { field = $1; if (field == "failureType:") { kind = $2; gsub(/'/, "", kind) } }
field == "stack:" || field == "duration_ms:" { next }
/^ *---$/ { next }
kept < 40 { body = body "    " substr($0, indent + 1) "\n"; kept++ }
END { flush() }
