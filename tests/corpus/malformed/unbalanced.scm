;; Missing closing parenthesis: guix prints FILE:LINE:COL: missing closing
;; parenthesis.  Written for vmfleet's test corpus.
(use-modules (gnu))

(operating-system
  (host-name "broken")
  (timezone "Europe/Berlin")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems %base-file-systems)
