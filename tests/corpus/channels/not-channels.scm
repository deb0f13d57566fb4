;; Not a channel list: an operating-system fragment saved under the wrong name.
(use-modules (gnu))
(operating-system-host-name %unknown-os)
