# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_registervakt_global_optspecs
    string join \n h/help V/version
end

function __fish_registervakt_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_registervakt_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_registervakt_using_subcommand
    set -l cmd (__fish_registervakt_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c registervakt -n "__fish_registervakt_needs_command" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_needs_command" -s V -l version -d 'Print version'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "serve" -d 'Serve the broker (production start). SIGTERM stops it gracefully; SIGHUP writes an audit checkpoint and changes nothing else'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "demo" -d 'Create a synthetic register, a store, keys and users, and serve them'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "init" -d 'Create and migrate the store named in the config (idempotent), and create the audit checkpoint file it names'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "keys" -d 'Manage the key-encryption key file'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "audit" -d 'Check the audit log'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "policy" -d 'Check, show and explain the access policy'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "user" -d 'Manage user accounts'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "register" -d 'Inspect the membership register connection'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "report" -d 'The data protection officer\'s reports: activity, and the Art. 30 record of processing'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "completions" -d 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "manpage" -d 'Print the manual page registervakt(1), or write every page into a directory'
complete -c registervakt -n "__fish_registervakt_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand serve" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand serve" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand demo" -l members -d 'Synthetic members to create on the first run' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand demo" -l listen -d 'Address to serve on' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand demo" -l data-dir -d 'Directory for everything the demo creates' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand demo" -l smtp -d 'An SMTP server on loopback (PORT) for notices and the printer\'s hand-over mails, e.g. `python3 tests/smtp/sink.py --port 2525 --dir mails` and `--smtp 2525`. Without it the printer purpose is listed but refuses hand-overs (nothing could be mailed)' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand demo" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand init" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand init" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and not __fish_seen_subcommand_from generate rotate help" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and not __fish_seen_subcommand_from generate rotate help" -f -a "generate" -d 'Write a new key-encryption key file with mode 0600 (refuses to overwrite)'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and not __fish_seen_subcommand_from generate rotate help" -f -a "rotate" -d 'Add a new active key to an existing key file; older keys stay for decryption'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and not __fish_seen_subcommand_from generate rotate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and __fish_seen_subcommand_from generate" -l out -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and __fish_seen_subcommand_from generate" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l file -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "generate" -d 'Write a new key-encryption key file with mode 0600 (refuses to overwrite)'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Add a new active key to an existing key file; older keys stay for decryption'
complete -c registervakt -n "__fish_registervakt_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and not __fish_seen_subcommand_from verify trace scope export help" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and not __fish_seen_subcommand_from verify trace scope export help" -f -a "verify" -d 'Walk the hash chain; exit 0 with the entry count, or non-zero naming the first bad entry'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and not __fish_seen_subcommand_from verify trace scope export help" -f -a "trace" -d 'Which extract a leaked CSV or XLSX file most likely comes from, with the evidence'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and not __fish_seen_subcommand_from verify trace scope export help" -f -a "scope" -d 'Breach scope (GDPR Art. 33): members, field categories, downloads and shred times, from an extract, an account and a time window, or a leaked file'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and not __fish_seen_subcommand_from verify trace scope export help" -f -a "export" -d 'Write the audit log (optionally a time window) as JSON lines or CSV; the export is itself an audit event, recorded before the first line is written'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and not __fish_seen_subcommand_from verify trace scope export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from verify" -l data-dir -d 'A data dir holding registervakt.db (or a demo dir holding registervakt.toml)' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from verify" -l config -d 'The broker\'s config file' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from verify" -l checkpoints -d 'Also check the log against the signed checkpoints in FILE (catches a truncated log or a chain recomputed after a deletion). Needs the config, for the key file' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from trace" -l data-dir -d 'A data dir holding registervakt.db (or a demo dir holding registervakt.toml)' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from trace" -l config -d 'The broker\'s config file' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from trace" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -l extract -d 'From one extract' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -l user -d 'From every extract this account held in --from..--to' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -l from -d 'RFC 3339, e.g. 2026-11-30T08:00:00Z' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -l to -r
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -l file -d 'From the extract a leaked file comes from' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -l data-dir -d 'A data dir holding registervakt.db (or a demo dir holding registervakt.toml)' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -l config -d 'The broker\'s config file' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from scope" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from export" -l data-dir -d 'A data dir holding registervakt.db (or a demo dir holding registervakt.toml)' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from export" -l config -d 'The broker\'s config file' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from export" -l format -d '`jsonl` (one object per entry, re-verifiable) or `csv`' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from export" -l from -d 'RFC 3339, inclusive' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from export" -l to -d 'RFC 3339, inclusive' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from export" -l out -d 'Write to FILE (a new file, mode 0600) instead of standard output' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Walk the hash chain; exit 0 with the entry count, or non-zero naming the first bad entry'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "trace" -d 'Which extract a leaked CSV or XLSX file most likely comes from, with the evidence'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "scope" -d 'Breach scope (GDPR Art. 33): members, field categories, downloads and shred times, from an extract, an account and a time window, or a leaked file'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write the audit log (optionally a time window) as JSON lines or CSV; the export is itself an audit event, recorded before the first line is written'
complete -c registervakt -n "__fish_registervakt_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -f -a "check" -d 'Validate model.conf, policy.csv and purposes.toml; names the file and line of a problem'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -f -a "show" -d 'Print the role→permission table and the purpose catalogue'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -f -a "export" -d 'Write the policy in force (model.conf, policy.csv, purposes.toml) to a directory'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -f -a "import" -d 'Validate a directory\'s purposes.toml and policy.csv and store them as the next version (in force at the next request on every broker; audited)'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -f -a "diff" -d 'Try a policy change against the extract requests of the last DAYS days: which would now be denied, allowed, or need more or fewer approvers. The candidate is the given files, else the one pending proposal, else the files in `[policy] dir`'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -f -a "explain" -d 'What the policy decides for a user\'s request, and every rule that made it'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and not __fish_seen_subcommand_from check show export import diff explain help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from check" -l dir -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from show" -l dir -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from export" -l out -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from export" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from import" -l dir -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from import" -l comment -d 'Why the policy changes' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from import" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from diff" -l against-history -d 'How many days of requests to decide again' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from diff" -l purposes -d 'A candidate purposes.toml (the one in force when not given)' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from diff" -l permissions -d 'A candidate policy.csv (the one in force when not given)' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from diff" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -l user -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -l purpose -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -l district -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -l fields -d 'Comma-separated field names, e.g. first_name,last_name,email' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -l lifetime -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -l rows -d 'The number of members the request would hold' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -l config -d 'The broker\'s config (for the user\'s roles and the policy dir)' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from explain" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate model.conf, policy.csv and purposes.toml; names the file and line of a problem'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the role→permission table and the purpose catalogue'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write the policy in force (model.conf, policy.csv, purposes.toml) to a directory'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "import" -d 'Validate a directory\'s purposes.toml and policy.csv and store them as the next version (in force at the next request on every broker; audited)'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "diff" -d 'Try a policy change against the extract requests of the last DAYS days: which would now be denied, allowed, or need more or fewer approvers. The candidate is the given files, else the one pending proposal, else the files in `[policy] dir`'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "explain" -d 'What the policy decides for a user\'s request, and every rule that made it'
complete -c registervakt -n "__fish_registervakt_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "add" -d 'Create a user and print a one-time invitation link'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "list" -d 'List users, their status and roles'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "disable" -d 'Disable a user; their sessions end at once'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "set-email" -d 'Set the address a user\'s notices are e-mailed to (when `[smtp]` is configured)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "enable" -d 'Re-enable a disabled user'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "grant" -d 'Give a user a role (ends their sessions so the change applies at once)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "revoke" -d 'Take a role from a user (ends their sessions at once)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "link-oidc" -d 'Link an account at the identity provider (issuer + subject) to a user'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "reset-2fa" -d 'Remove a user\'s authenticator and recovery codes; they enrol again at next sign-in'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and not __fish_seen_subcommand_from add list disable set-email enable grant revoke link-oidc reset-2fa help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from add" -l username -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from add" -l name -d 'The name shown to others, e.g. "Anna Berg"' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from add" -l role -d 'ROLE:DISTRICT, repeatable: staff:Uppsala, approver:Uppsala, admin:*, auditor:*' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from add" -l sign-in-with -d 'Sign in only through this identity provider (its id under [oidc] in the configuration): no password; the invitation is accepted by signing in there' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from add" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from list" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from disable" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from set-email" -l email -d 'The address; leave out with --clear to stop e-mail' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from set-email" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from set-email" -l clear
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from set-email" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from enable" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from grant" -l role -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from grant" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from grant" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from revoke" -l role -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from revoke" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from link-oidc" -l issuer -d 'The issuer URL exactly as in the provider\'s ID tokens' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from link-oidc" -l subject -d 'The `sub` claim of the user at the provider (never the e-mail address)' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from link-oidc" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from link-oidc" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from reset-2fa" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from reset-2fa" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create a user and print a one-time invitation link'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List users, their status and roles'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Disable a user; their sessions end at once'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "set-email" -d 'Set the address a user\'s notices are e-mailed to (when `[smtp]` is configured)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Re-enable a disabled user'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "grant" -d 'Give a user a role (ends their sessions so the change applies at once)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Take a role from a user (ends their sessions at once)'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "link-oidc" -d 'Link an account at the identity provider (issuer + subject) to a user'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "reset-2fa" -d 'Remove a user\'s authenticator and recovery codes; they enrol again at next sign-in'
complete -c registervakt -n "__fish_registervakt_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand register; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand register; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Print the column mapping and members per district; warn if the register user can write'
complete -c registervakt -n "__fish_registervakt_using_subcommand register; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand register; and __fish_seen_subcommand_from check" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand register; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand register; and __fish_seen_subcommand_from help" -f -a "check" -d 'Print the column mapping and members per district; warn if the register user can write'
complete -c registervakt -n "__fish_registervakt_using_subcommand register; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and not __fish_seen_subcommand_from activity article30 help" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and not __fish_seen_subcommand_from activity article30 help" -f -a "activity" -d 'Extracts requested in a period (at most 400 days) by purpose, district and approver'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and not __fish_seen_subcommand_from activity article30 help" -f -a "article30" -d 'The record-of-processing summary (GDPR Art. 30) of every purpose in the policy in force'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and not __fish_seen_subcommand_from activity article30 help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from activity" -l from -d 'Start, inclusive, RFC 3339 (2026-01-01T00:00:00Z)' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from activity" -l to -d 'End, exclusive, RFC 3339' -r
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from activity" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from activity" -l csv -d 'Print `;`-separated CSV with a BOM (opens in Swedish Excel) instead of text'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from activity" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from article30" -l config -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from article30" -l csv
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from article30" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from help" -f -a "activity" -d 'Extracts requested in a period (at most 400 days) by purpose, district and approver'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from help" -f -a "article30" -d 'The record-of-processing summary (GDPR Art. 30) of every purpose in the policy in force'
complete -c registervakt -n "__fish_registervakt_using_subcommand report; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand completions" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand manpage" -l out-dir -d 'Write every page (registervakt.1 and one per command) into DIR instead of printing registervakt(1) on standard output' -r -F
complete -c registervakt -n "__fish_registervakt_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "serve" -d 'Serve the broker (production start). SIGTERM stops it gracefully; SIGHUP writes an audit checkpoint and changes nothing else'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "demo" -d 'Create a synthetic register, a store, keys and users, and serve them'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "init" -d 'Create and migrate the store named in the config (idempotent), and create the audit checkpoint file it names'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "keys" -d 'Manage the key-encryption key file'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "audit" -d 'Check the audit log'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "policy" -d 'Check, show and explain the access policy'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "user" -d 'Manage user accounts'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "register" -d 'Inspect the membership register connection'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "report" -d 'The data protection officer\'s reports: activity, and the Art. 30 record of processing'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "completions" -d 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "manpage" -d 'Print the manual page registervakt(1), or write every page into a directory'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and not __fish_seen_subcommand_from serve demo init keys audit policy user register report completions manpage help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "generate" -d 'Write a new key-encryption key file with mode 0600 (refuses to overwrite)'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "rotate" -d 'Add a new active key to an existing key file; older keys stay for decryption'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Walk the hash chain; exit 0 with the entry count, or non-zero naming the first bad entry'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "trace" -d 'Which extract a leaked CSV or XLSX file most likely comes from, with the evidence'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "scope" -d 'Breach scope (GDPR Art. 33): members, field categories, downloads and shred times, from an extract, an account and a time window, or a leaked file'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "export" -d 'Write the audit log (optionally a time window) as JSON lines or CSV; the export is itself an audit event, recorded before the first line is written'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "check" -d 'Validate model.conf, policy.csv and purposes.toml; names the file and line of a problem'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "show" -d 'Print the role→permission table and the purpose catalogue'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "export" -d 'Write the policy in force (model.conf, policy.csv, purposes.toml) to a directory'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "import" -d 'Validate a directory\'s purposes.toml and policy.csv and store them as the next version (in force at the next request on every broker; audited)'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "diff" -d 'Try a policy change against the extract requests of the last DAYS days: which would now be denied, allowed, or need more or fewer approvers. The candidate is the given files, else the one pending proposal, else the files in `[policy] dir`'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "explain" -d 'What the policy decides for a user\'s request, and every rule that made it'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "add" -d 'Create a user and print a one-time invitation link'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List users, their status and roles'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "disable" -d 'Disable a user; their sessions end at once'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "set-email" -d 'Set the address a user\'s notices are e-mailed to (when `[smtp]` is configured)'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "enable" -d 'Re-enable a disabled user'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "grant" -d 'Give a user a role (ends their sessions so the change applies at once)'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "revoke" -d 'Take a role from a user (ends their sessions at once)'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "link-oidc" -d 'Link an account at the identity provider (issuer + subject) to a user'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "reset-2fa" -d 'Remove a user\'s authenticator and recovery codes; they enrol again at next sign-in'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from register" -f -a "check" -d 'Print the column mapping and members per district; warn if the register user can write'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from report" -f -a "activity" -d 'Extracts requested in a period (at most 400 days) by purpose, district and approver'
complete -c registervakt -n "__fish_registervakt_using_subcommand help; and __fish_seen_subcommand_from report" -f -a "article30" -d 'The record-of-processing summary (GDPR Art. 30) of every purpose in the policy in force'
