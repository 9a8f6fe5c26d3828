(*
Module: Migrator_Dovecot
  Dovecot configuration lens owned by migrator.

  Reads everything the stock Dovecot lens (augeas-lenses 1.14) reads into the
  same tree: settings are nodes labelled by key with the raw value (quotes
  kept), blocks are nodes labelled by the block name with the argument as
  value (quotes stripped), "#comment" nodes, "include"/"include_try" nodes.

  Differences from the stock lens:
  - any word is a block name (local, remote, local_name, metric, key, ...);
    a block argument is anything without quote, brace or "#", so dots,
    colons, slashes, "!" and, quoted, blanks;
  - a trailing "# note" after a value becomes a "#comment" child of the
    setting node (a bare "#" one with no value), as Dovecot strips it
    outside quotes; "a#b" is "a" plus a comment, as for Dovecot;
  - backslash continuations are read; the value keeps the raw text,
    backslash, newline and indent included;
  - "!include" may be indented and may appear inside blocks;
  - new nodes are written indented two spaces per nesting level and as
    "key = value"; new blocks as "name arg {" ... "}" (closing brace at
    the block's indent);
  - "key =" with nothing after it (an empty value; the node has no value,
    as with the stock lens) is written back as it was, and a node with no
    value and no child is written "key =": the stock lens reads such files
    but cannot save them ("None of the alternatives in the union match");
    a "# note" after an empty "=" is kept but not shown, and dropped when
    the setting gets a value;
  - CRLF line ends (Dovecot takes the CR for a blank): the CR stays out of
    values; new lines get LF only;
  - a comment after "{" or "}" is kept on save but not shown in the tree;
  - a block's "{" line is a hidden child (see below): match and get do not
    show it.

  How put tells a setting from a block: an empty block and a setting are
  the same tree, so every block read from a file keeps its "{" line in a
  hidden (unlabelled) first child. A node made by a caller has none: it is
  written as a block as soon as it has a child other than one "#comment",
  else as a setting ("key = value # comment").

  Not supported:
  - blocks more than 6 deep (settings at most 5 blocks deep, as in
    "local { remote { protocol { namespace { mailbox { k = v } } } } }"):
    parse error. Each level costs Augeas time on every load and save
    (8 levels made both a third slower), so no deeper than Dovecot
    configs go;
  - a comment or blank line inside a continuation, "{" not ending its
    line ("name { key = v }"): parse error (Dovecot 2.3 and 2.4 refuse
    them too: "Expecting '{'", "Garbage after '{'");
  - a value of "" (what python-augeas's set() stores for None): put
    fails (put_failed), as for any value the lens cannot write. Augeas
    chooses among a union's alternatives by the node's children and by
    whether it has a value, never by the value itself, so "" cannot be
    told apart from "x". Make an empty setting, or a block without an
    argument ("mail_plugins {"), as a node with no value: Augeas makes one
    when a path below it is set ("set mail_plugins/sieve yes");
  - "key/sub = value" (Dovecot 2.4 reads it as "key { sub = value }"):
    Augeas labels cannot hold "/"; parse error;
  - creating a block whose argument has blanks needs the value set with
    its double quotes ('"Sent Messages"'); set bare, it is written
    unquoted, which doveconf rejects;
  - the type checker (augparse without --notypecheck, Augeas.TYPE_CHECK)
    rejects this lens: setting and block overlap on put by design, see
    above. Load it without type checking, as Augeas does by default.
*)
module Migrator_Dovecot =

(************************************************************************
 * Group: REGULAR EXPRESSIONS
 ************************************************************************)

(* Variable: word  Setting keys and block names, as Rx.word, and 2.4's "field:default"
   keys inside a userdb's or passdb's "fields { }" ("uid:default = vmail") *)
let word = /[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?/

(* Variable: setting_key  "include" keys belong to "!include" lines *)
let setting_key = word - /include|include_try/

(* An unquoted character that is neither blank, quote, "#" nor backslash *)
let uc = /[^ \t\r\n"'#\\]/

(* A complete quoted string; Dovecot honours backslash escapes inside *)
let q = /"([^"\\\n]|\\\\.)*"/ | /'([^'\\\n]|\\\\.)*'/

(* A quote never closed on its line ("it's"): Dovecot then strips no
   comment, so the rest of the line, "#" included, is the value ("it's #
   fine" is one value). When a value could end at an unclosed quote or at
   a later closing one, Augeas's get takes the longest store, as Dovecot
   does ('a # b' stays one value) *)
let ut = /"(([^"\\\n]|\\\\.)*[^ \t\r"\\\n])?/ | /'(([^'\\\n]|\\\\.)*[^ \t\r'\\\n])?/

let x = uc | q

(* The start of a physical line's value: does not start blank *)
let pre = ((x | /\\\\/) . (x | /\\\\/ | /[ \t]/)*)?

(* One physical line of a value: not ending blank or in a backslash *)
let seg = pre . (x | ut)

(* A backslash continuation between two physical lines *)
let cont = /[ \t]*\\\\[ \t\r]*\n[ \t]*/

(* Variable: value  Raw setting value, continuations included *)
let value = (pre . x . cont)* . seg

(* Variable: arg  Block argument, quotes stripped: no quote, brace or "#",
   not starting with "=", no blank at either end *)
let arg = /[^ \t\r\n"{}#=]([^\r\n"{}#]*[^ \t\r\n"{}#])?/

(* Variable: arg_quoted  Only for put: a caller making a block whose
   argument has blanks sets the value with its double quotes; read back,
   the quotes are stripped like any other *)
let arg_quoted = /"[^"\n]*"/

(************************************************************************
 * Group: PRIMITIVES
 ************************************************************************)

(* Dovecot takes a CR before a newline for a blank: CRLF files read, and
   the CR stays out of every value *)
let eol = del /[ \t\r]*\n/ "\n"

(* View: empty  A blank line, or one with only "#" *)
let empty = [ del /[ \t\r]*(#[ \t\r]*)?\n/ "\n" ]

(* View: indent  (i: the indent of new nodes at this level) *)
let indent (i:string) = del /[ \t]*/ i

(* View: comment  A full-line comment *)
let comment (i:string) = Util.comment_generic /[ \t]*#[ \t]*/ (i . "# ")

(* View: eol_comment  "# note" after a value, as a "#comment" child; a
   bare "#" gives a "#comment" with no value *)
let eol_comment =
    [ label "#comment" . del /[ \t]*#[ \t]*/ " # "
      . store /[^ \t\r\n]([^\n]*[^ \t\r\n])?/ ]
  | [ label "#comment" . del /[ \t]*#/ " #" ]

let eq = del /[ \t]*=/ " ="
let sp = del /[ \t]*/ " "

(************************************************************************
 * Group: LINES
 ************************************************************************)

(* View: setting_rest  After the key: "= value", "= value # note" *)
let setting_rest = eq . sp . store value . eol_comment? . eol

(* View: empty_rest
   After the key: "=" with nothing, or only a "# note", after it: the node
   has no value (NULL, as with the stock lens) and no child (the note stays
   in the file, hidden, until a value is set). Augeas's put takes the first
   alternative of a union that fits the node's children and, when there
   are none, stores something only if the node has a value: so a NULL node
   with no child comes here, and is written "key =" when new *)
let empty_rest = eq . del /([ \t]*#[^\n]*)?/ "" . eol

(* View: include  "!include path" and "!include_try path"; a path with
   blanks in double quotes (kept in the value, as for settings) *)
let include (i:string) =
  [ indent i . Util.del_str "!" . key /include|include_try/
    . Sep.space . store (/[^ \t\r\n#"]+/ | /"[^"\r\n]*"/) . eol_comment? . eol ]

(* View: block_rest
   After the name: " arg {", " \"arg\" {" or " {", the body (the next
   level's lines) and the closing brace *)
let block_rest (i:string) (body:lens) =
     let open_re = /[ \t]*\{[ \t\r]*(#[^\n]*)?\n/
  in let close = del /[ \t]*\}[ \t\r]*(#[^\n]*)?\n/ (i . "}\n")
  in let dq_opt = del /"?/ ""
  (* matches no valid Dovecot text: only put uses it, for new blocks *)
  in let open_new = del /[ \t]*\{\}\{\n/ " {\n"
  in (Sep.space . dq_opt . store (arg | arg_quoted) . dq_opt)?
   . ( [ del open_re " {\n" ] | open_new ) . body . close

(* View: item  A setting or a block, told apart by what follows the key *)
let item (i:string) (body:lens) =
  [ indent i . key setting_key
    . (setting_rest | empty_rest | block_rest i body) ]

(* View: line  Any line at a level, with the next level's lines given *)
let line (i:string) (body:lens) =
  empty | comment i | include i | item i body

(************************************************************************
 * Group: LEVELS
 ************************************************************************)

(* No recursion: Augeas fails to put a recursive lens nested in these
   unions ("Missing a node"), and each level needs its own indent anyway.
   Blocks nest up to 6 deep; a seventh level holds only comments. *)
let l6 = empty | comment "            "
let l5 = line "          " l6*
let l4 = line "        " l5*
let l3 = line "      " l4*
let l2 = line "    " l3*
let l1 = line "  " l2*
let l0 = line "" l1*

(* View: lns  The Migrator_Dovecot lens *)
let lns = l0*

let filter = incl "/etc/dovecot/dovecot.conf"
           . incl "/etc/dovecot/conf.d/*.conf"
           . incl "/etc/dovecot/conf.d/*.conf.ext"
           . incl "/etc/dovecot/*.conf.ext"
           . Util.stdexcl

let xfm = transform lns filter
