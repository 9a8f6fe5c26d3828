(*
Module: Migrator_Postfix_Master
  Postfix master.cf lens owned by migrator.

  Reads everything the stock Postfix_Master lens (augeas-lenses 1.14) reads
  and Postfix accepts into the same tree: one node per service, labelled by the service name,
  with the children "type", "private", "unprivileged", "chroot", "wakeup",
  "limit" and "command" (the daemon and its arguments, raw: continuation
  newlines and indents kept).

  What it reads beyond the stock lens, as master(5) says Postfix does (a
  logical line goes on while the next non-blank, non-comment line starts
  with a blank; nothing else is special, no quotes, no trailing comments):
  - any character in a command: Debian 13's
    "-o syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/$service_name",
    "> % | ' * + ~ { } $ ?", "-o { key = value with blanks }", "#" after
    the first character of a line;
  - any service name without blank or "/": "[::1]:10025", "[192.0.2.1]:smtp";
  - blank lines and comment lines inside an entry, between fields or
    between continuation lines of the command. A blank line stays in the
    command's value (or between two fields, hidden); a comment line, or
    one with only "#", becomes a "#comment" child of the service node, in
    place (with no value for a bare "#"), and cuts the command: the text
    after it is a second "command" node. The command Postfix runs is every
    "command" node's value, in order, joined by blanks. A caller reading
    only one "command" node must refuse a service that has several;
  - fields split across continuation lines;
  - CRLF line ends (Postfix takes the CR for a blank): the CR stays out of
    values, new lines get LF only.

  Between services a line with only "#" is hidden, like a blank line (as
  in the stock lens). Two services with one name ("smtp inet", "smtp
  unix") are two nodes with one label, as in the stock lens.

  New services are written in Debian's columns when the name has 7
  characters and the wakeup and limit fields one, as Dovecot's own
  documentation shows the LDA's service:
  "dovecot   unix  -       n       n       -       -       pipe"; other
  lengths keep the same blanks (3 after the name, 2 after the type, 7 after
  the other fields), so columns shift. Padding by length needs a union of
  whole entries, one per length: it made load and save 5 to 10 times
  slower, for looks. A command set with newlines ("pipe\n  flags=R ...")
  is written as given.

  What Postfix refuses, it refuses too (a bad type or y/n/- field, a
  wakeup or limit that is not a number or "-", a missing command), where
  the stock lens took "5?" as a limit.

  Not supported (Postfix reads them):
  - a service name holding "/" (Augeas labels cannot hold one);
  - a command whose first character is "#" (no daemon is named so);
  - a first line that starts with a blank (Postfix warns and skips it).
*)
module Migrator_Postfix_Master =

(************************************************************************
 * Group: REGULAR EXPRESSIONS
 ************************************************************************)

(* Variable: blank_line  A line with nothing but blanks *)
let blank_line = /[ \t\r]*\n/

(* Variable: line_break  End of a line, blank lines, the next line's indent *)
let line_break = blank_line+ . /[ \t]+/

(* Variable: field_sep  Between two fields: blanks, or a continuation *)
let field_sep = /[ \t]+/ | line_break

(* Variable: text  One physical line's part of a value: no blank at either
   end, not starting with "#" (a line so would be a comment) *)
let text = /[^ \t\r\n#]([^\n]*[^ \t\r\n])?/

(* Variable: command  The command and its arguments up to the entry's end
   or to the next comment line *)
let command = text . (line_break . text)*

let name = /[^ \t\r\n#\/][^ \t\r\n\/]*/
let service_type = /inet|unix|unix-dgram|fifo|pass/
let bool = /[yn-]/
let wakeup = /([0-9]+|-)\??/
let limit = /[0-9]+|-/

(************************************************************************
 * Group: PRIMITIVES
 ************************************************************************)

let eol = del /[ \t\r]*\n/ "\n"

(* View: comment  A comment line with text after its "#" *)
let comment =
  [ label "#comment" . del /[ \t]*#[ \t]*/ "# "
    . store /[^ \t\r\n]([^\n]*[^ \t\r\n])?/ . eol ]

(* View: empty  A blank line, or one with only "#", between services *)
let empty = [ del /[ \t\r]*(#[ \t\r]*)?\n/ "\n" ]

(* View: bare_comment  A line with only "#", inside a service *)
let bare_comment = [ label "#comment" . del /[ \t]*#[ \t\r]*\n/ "#\n" ]

(* View: gap
   A continuation with comment lines in it (at least one): their
   "#comment" nodes, then the next line's indent *)
let gap =
    del blank_line+ "\n"
  . ((comment | bare_comment) . del blank_line* "")+
  . del /[ \t]+/ "  "

(* View: sep  After a field; d: written between a new field and the next *)
let sep (d:string) = del field_sep d | gap

(* View: field  A field and the blanks after it; d: after a new one *)
let field (l:string) (r:regexp) (d:string) = [ label l . store r ] . sep d

(* View: commands
   The "command" nodes, cut by comment lines. Between two of them, put
   also takes no comment (a caller removed it): the text after is then a
   plain continuation line; read back, it joins the command before it *)
let commands =
     let cut =
         del blank_line+ "\n"
       . ((comment | bare_comment) . del blank_line* "")*
       . del /[ \t]+/ "  "
  in [ label "command" . store command ]
   . (cut . [ label "command" . store command ])*

(* View: body  Everything after the name's padding *)
let body =
    field "type" service_type "  "
  . field "private" bool "       "
  . field "unprivileged" bool "       "
  . field "chroot" bool "       "
  . field "wakeup" wakeup "       "
  . field "limit" limit "       "
  . commands
  . eol

(* View: entry  A service *)
let entry = [ key name . sep "   " . body ]

(* View: lns  The Migrator_Postfix_Master lens *)
let lns = (comment | empty | entry)*

let filter = incl "/etc/postfix/master.cf"
           . incl "/usr/local/etc/postfix/master.cf"

let xfm = transform lns filter
