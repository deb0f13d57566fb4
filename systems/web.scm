;; web: a small nginx server, booted by vmfleet as a qcow2 VM.
;;
;; Build it the way vmfleet does:
;;   guix time-machine -C channels.scm -- system image -t qcow2 --save-provenance web.scm
;; The image is an MBR disk with GRUB on /dev/vda and the root file system on /dev/vda2.

(use-modules (gnu))
(use-service-modules networking ssh web)
(use-package-modules admin)

(operating-system
  (host-name "web")
  (timezone "Europe/Berlin")
  (locale "en_US.utf8")

  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))

  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))

  (users (cons (user-account
                 (name "deploy")
                 (comment "Deployments")
                 (group "users")
                 (supplementary-groups '("wheel")))
               %base-user-accounts))

  (packages (append (list (specification->package "nginx")
                          (specification->package "curl")
                          htop)
                    %base-packages))

  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (permit-root-login 'prohibit-password)
                           (password-authentication? #f)
                           ;; vmfleet logs in with this key (the demo writes its own):
                           ;; as the wheel user "deploy"; root keeps it while vmfleet
                           ;; still logs in as root.
                           (authorized-keys
                            `(("deploy" ,(local-file "vmfleet.pub"))
                              ("root" ,(local-file "vmfleet.pub"))))))
                 (service nginx-service-type
                          (nginx-configuration
                           (server-blocks
                            (list (nginx-server-configuration
                                   (server-name '("web"))
                                   (listen '("80"))
                                   (root "/srv/http")))))))
           %base-services)))
