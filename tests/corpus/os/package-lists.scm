;; Package lists as people build them: map over specifications, delete what
;; %base-packages brings and is not wanted, specifications->packages.
;; Written for vmfleet's test corpus.

(use-modules (gnu) (srfi srfi-1))
(use-service-modules networking ssh)
(use-package-modules nano text-editors)

(define %cli-tools
  '("htop" "tmux" "ripgrep" "jq"))

(operating-system
  (host-name "dunlin")
  (timezone "Europe/Stockholm")
  (locale "sv_SE.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (packages (append (map specification->package %cli-tools)
                    (specifications->packages '("git" "curl"))
                    (delete nano (delete mg %base-packages))))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type))
                    %base-services)))
