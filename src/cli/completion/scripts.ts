/**
 * The completion scripts `dmctl completion SHELL` prints. Each asks `dmctl __complete`
 * for the words at the cursor (candidates.ts), passing the words typed so far, the
 * current one last: so one piece of logic serves every shell. Candidates are taken as
 * they are, never expanded by the shell (compgen -W would expand `$` in a name).
 */
export const COMPLETION_SCRIPTS = {
  bash: `# dmctl completion for bash. Load it with: source <(dmctl completion bash)
_dmctl() {
    local cur=\${COMP_WORDS[COMP_CWORD]}
    case \${COMP_WORDS[COMP_CWORD-1]} in
        -c|--config)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
            ;;
    esac
    mapfile -t COMPREPLY < <("\${COMP_WORDS[0]}" __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
}
complete -F _dmctl dmctl
`,
  zsh: `#compdef dmctl
# dmctl completion for zsh. Load it with: source <(dmctl completion zsh)
# or save it as _dmctl in a directory of $fpath.
_dmctl() {
  if [[ \${words[CURRENT-1]} == (-c|--config) ]]; then
    _files
    return
  fi
  local -a candidates
  candidates=(\${(f)"$(\${words[1]} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)"})
  compadd -a candidates
}
if [[ \${funcstack[1]} == _dmctl ]]; then
  _dmctl "$@"
else
  compdef _dmctl dmctl
fi
`,
  fish: `# dmctl completion for fish. Load it with: dmctl completion fish | source
# or save it as ~/.config/fish/completions/dmctl.fish
function __dmctl_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    set -q current[1]; or set current ''
    $words[1] __complete $words[2..-1] "$current" 2>/dev/null
end
complete -c dmctl -f
complete -c dmctl -s c -l config -r -F -d 'master config'
complete -c dmctl -a '(__dmctl_complete)'
`,
} as const;
