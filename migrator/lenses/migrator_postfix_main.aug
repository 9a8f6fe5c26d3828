(*
Module: Migrator_Postfix_Main
  Postfix main.cf lens owned by migrator.

  Reads everything the stock Postfix_Main lens (augeas-lenses 1.14) reads
  into the same tree: one node per parameter, labelled by its name, with
  the raw value (continuation newlines and indents kept), and "#comment"
  nodes.

  What it reads beyond the stock lens, as postconf(5) and Postfix's
  readllines() do (a logical line goes on while the next line starts with
  a blank or "#"; a line that is blank or whose first non-blank is "#" is
  skipped wherever it is; nothing else is special: no quotes, no trailing
  comments, "$name" and "${name?{a}:{b}}" are plain text):
  - any parameter name without blank, "=" or "/" ("a.b:c", "x#y"), where
    the stock lens takes only [A-Za-z0-9_.-];
  - a value starting with "#" ("a = #b" is "#b" to Postfix);
  - blank lines inside a continued value: kept in the value, raw;
  - a value that starts on the next line ("a =", then "  b"): the value
    keeps its line break ("\n  b");
  - comment lines (and lines with only "#") inside a continued value:
    each becomes a "#comment" child of the parameter's node, in place
    (with no value for a bare "#"), and cuts the value: the text after it
    is a "continued" child. The value Postfix reads is the node's value,
    then every "continued" child's, joined by blanks (an "a =" whose value
    starts after a comment line has no value of its own, only
    "continued" children). A caller reading only the node's value must
    refuse a parameter that has children;
  - CRLF line ends (Postfix takes the CR for a blank): the CR before the
    last newline stays out of values; new lines get LF only.

  A comment line after a value with no continuation line after it is a
  comment of the file, not of the parameter (Postfix skips it either way).

  What Postfix refuses, it refuses too: a line without "=", a missing
  name. A value set with a newline not followed by a blank, or whose
  continuation line starts with "#", fails the save (Postfix would read
  another parameter, or a comment).

  A last line without a newline reads (Augeas adds one as it loads the
  file): saved, the file ends with a newline.

  Not supported (Postfix reads them):
  - a parameter name holding "/" (Augeas labels cannot hold one);
  - a first line that starts with a blank (Postfix warns and skips it).
*)
module Migrator_Postfix_Main =

(************************************************************************
 * Group: REGULAR EXPRESSIONS
 ************************************************************************)

(* Variable: blank_line  A line with nothing but blanks *)
let blank_line = /[ \t\r]*\n/

(* Variable: line_break  End of a line, blank lines, the next line's indent *)
let line_break = blank_line+ . /[ \t]+/

(* Variable: first_text  The value's part on the parameter's own line *)
let first_text = /[^ \t\r\n]([^\n]*[^ \t\r\n])?/

(* Variable: text  A continuation line's part: not starting with "#" (a
   line so is a comment) *)
let text = /[^ \t\r\n#]([^\n]*[^ \t\r\n])?/

(* Variable: continued  Text on continuation lines, up to the next comment
   line or the entry's end *)
let continued = text . (line_break . text)*

(* Variable: value  From the first non-blank after "=", on its line or on
   a continuation line (then the break is in the value) *)
let value =
    first_text . (line_break . text)*
  | /(\r[ \t\r]*)?\n/ . blank_line* . /[ \t]+/ . continued

let name = /[^ \t\r\n=#\/][^ \t\r\n=\/]*/

(************************************************************************
 * Group: PRIMITIVES
 ************************************************************************)

let eol = del /[ \t\r]*\n/ "\n"

(* View: comment  A comment line with text after its "#" *)
let comment =
  [ label "#comment" . del /[ \t]*#[ \t]*/ "# "
    . store /[^ \t\r\n]([^\n]*[^ \t\r\n])?/ . eol ]

(* View: empty  A blank line, or one with only "#", between parameters *)
let empty = [ del /[ \t\r]*(#[ \t\r]*)?\n/ "\n" ]

(* View: bare_comment  A line with only "#", inside a value *)
let bare_comment = [ label "#comment" . del /[ \t]*#[ \t\r]*\n/ "#\n" ]

(* View: gap
   A continuation with comment lines in it (at least one): their
   "#comment" nodes, then the next line's indent *)
let gap =
    del blank_line+ "\n"
  . ((comment | bare_comment) . del blank_line* "")+
  . del /[ \t]+/ "  "

(* View: moved_comment
   Only for put: a "#comment" child after the last "continued" one (a
   caller replaced a value that had comment lines in it) is written on a
   line of its own after the value; read back, it is the file's comment.
   Its regex matches no text the rest of the lens leaves to it but a
   comment line starting with "#{}{" right after a value *)
let moved_comment =
  [ label "#comment" . del /\n#\{\}\{ / "\n# "
    . store /[^ \t\r\n]([^\n]*[^ \t\r\n])?/ ]

(* View: entry  A parameter: the value up to the first comment line in
   it, then each comment line and the text after it *)
let entry =
  [ key name . del /[ \t]*=/ " =" . (del /[ \t]*/ " " . store value)?
    . (gap . [ label "continued" . store continued ])*
    . moved_comment*
    . eol ]

(* View: lns  The Migrator_Postfix_Main lens *)
let lns = (comment | empty | entry)*

let filter = incl "/etc/postfix/main.cf"
           . incl "/usr/local/etc/postfix/main.cf"

let xfm = transform lns filter
