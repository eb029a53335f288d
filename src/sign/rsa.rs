//! RSA sshsig signing, by hand: ssh-key 0.6.7 converts an RSA key pair into
//! the `rsa` crate's key with its first prime twice (fixed upstream in 0.7),
//! so every RSA signature it makes fails. This builds the key from the right
//! components and signs with rsa-sha2-512, as `ssh-keygen -Y sign` does;
//! the result is checked before it is returned.

use crate::error::{Error, Result};
use rsa::signature::{SignatureEncoding, Signer as _};
use ssh_key::private::KeypairData;
use ssh_key::{Algorithm, HashAlg, PrivateKey, Signature, SshSig};

/// `Some(signature)` for an RSA key, `None` for any other key type.
pub fn sign(key: &PrivateKey, namespace: &str, msg: &[u8]) -> Option<Result<SshSig>> {
    let KeypairData::Rsa(pair) = key.key_data() else {
        return None;
    };
    let fail =
        |e: &dyn std::fmt::Display| Error::Other(format!("cannot sign with the RSA key: {e}"));
    Some((|| {
        let big = |m: &ssh_key::Mpint| rsa::BigUint::try_from(m).map_err(|e| fail(&e));
        let private = rsa::RsaPrivateKey::from_components(
            big(&pair.public.n)?,
            big(&pair.public.e)?,
            big(&pair.private.d)?,
            vec![big(&pair.private.p)?, big(&pair.private.q)?],
        )
        .map_err(|e| fail(&e))?;
        let data = SshSig::signed_data(namespace, HashAlg::Sha512, msg).map_err(|e| fail(&e))?;
        let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha512>::new(private);
        let raw = signer.try_sign(&data).map_err(|e| fail(&e))?;
        let algorithm = Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        };
        let signature = Signature::new(algorithm, raw.to_vec()).map_err(|e| fail(&e))?;
        let sig = SshSig::new(
            key.public_key().key_data().clone(),
            namespace,
            HashAlg::Sha512,
            signature,
        )
        .map_err(|e| fail(&e))?;
        key.public_key()
            .verify(namespace, msg, &sig)
            .map_err(|e| fail(&e))?;
        Ok(sig)
    })())
}
