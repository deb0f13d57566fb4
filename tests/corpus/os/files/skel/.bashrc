# Default shell setup for new accounts (corpus fixture).
export HISTSIZE=5000
alias ll='ls -l'
