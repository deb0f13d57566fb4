;; The same with %default-guix-channel (guix channels), pinned to 2024-11.
(use-modules (guix channels))

(list (channel
        (inherit %default-guix-channel)
        (commit "858dd7e721d69a6087375395037a86640418f1fb")))
