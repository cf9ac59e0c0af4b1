package main

// Certificates and kubeconfigs, generated with the standard library only.
//
// Four CAs live under <data-dir>/server/tls and are created once (kept across restarts):
//   server-ca          signs serving certificates (kube-apiserver, kubelet)
//   client-ca          signs client certificates (admin, components, kubelet client)
//   request-header-ca  signs the aggregator's front-proxy client certificate
//   etcd/server-ca     signs etcd's serving and client certificates
// Leaf certificates are re-issued on every start so that a changed container IP or a new
// --tls-san is always covered.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type ca struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signer")
	}
	return s, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

// loadOrCreateCA returns the CA stored at dir/name.{crt,key}, creating it if absent.
func loadOrCreateCA(dir, name, cn string) (*ca, error) {
	crtPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if crtPEM, err := os.ReadFile(crtPath); err == nil {
		keyB, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(crtPEM)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM block", crtPath)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		k, err := parseKeyPEM(keyB)
		if err != nil {
			return nil, err
		}
		return &ca{cert: c, key: k, certPEM: crtPEM}, nil
	}
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", cn, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, err
	}
	c, _ := x509.ParseCertificate(der)
	crtPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kp, err := keyPEM(k)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyPath, kp, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(crtPath, crtPEM, 0o644); err != nil {
		return nil, err
	}
	return &ca{cert: c, key: k, certPEM: crtPEM}, nil
}

type leafSpec struct {
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

// issue writes a fresh key pair signed by c to base.crt/base.key and returns the PEMs.
func (c *ca) issue(base string, s leafSpec) (crtPEM, kPEM []byte, err error) {
	k, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if s.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, k.Public(), c.key)
	if err != nil {
		return nil, nil, err
	}
	crtPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Serve the chain so clients holding only the CA can verify.
	kPEM, err = keyPEM(k)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(base+".key", kPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(base+".crt", crtPEM, 0o644); err != nil {
		return nil, nil, err
	}
	return crtPEM, kPEM, nil
}

// serviceAccountKey creates (once) the RSA key that signs service account tokens.
func serviceAccountKey(dir string) error {
	keyPath := filepath.Join(dir, "service.key")
	if _, err := os.Stat(keyPath); err == nil {
		return nil
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	kp := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	pubDer, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "service.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDer}), 0o644); err != nil {
		return err
	}
	return writeFileAtomic(keyPath, kp, 0o600)
}

func kubeconfig(server string, caPEM, crtPEM, kPEM []byte) []byte {
	b := base64.StdEncoding.EncodeToString
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
preferences: {}
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b(caPEM), server, b(crtPEM), b(kPEM)))
}
