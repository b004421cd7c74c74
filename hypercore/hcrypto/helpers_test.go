package hcrypto

import "crypto/ed25519"

func ed25519Sign(kp KeyPair, msg []byte) []byte { return ed25519.Sign(kp.SecretKey, msg) }
