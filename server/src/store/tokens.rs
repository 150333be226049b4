//! API tokens, each statement written once for both databases. Only a token's hash is
//! kept: the token itself is shown once, when it is made.

use chrono::{DateTime, Utc};

use super::database::with_pool;
use super::{Store, StoreError, TokenInfo};
use crate::owner::Owner;

/// An API token as `api_tokens` lists it.
#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    owner: String,
    label: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for TokenInfo {
    fn from(row: TokenRow) -> Self {
        TokenInfo {
            id: row.id,
            owner: Owner::new(row.owner),
            label: row.label,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

impl dyn Store {
    /// Stores a new API token's hash for its owner.
    pub async fn add_token(&self, token: &TokenInfo, hash: &[u8]) -> Result<(), StoreError> {
        let _turn = self.database().turn().await;
        with_pool!(self.database().db(), pool => {
            sqlx::query(
                "INSERT INTO api_tokens (id, hash, owner, label, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&token.id)
            .bind(hash)
            .bind(token.owner.as_str())
            .bind(&token.label)
            .bind(token.created_at)
            .execute(pool)
            .await
            .map(drop)?
        });
        Ok(())
    }

    /// The owner of the unrevoked token with this hash.
    pub async fn token_owner(&self, hash: &[u8]) -> Result<Option<Owner>, StoreError> {
        let owner: Option<String> = with_pool!(self.database().db(), pool => {
            sqlx::query_scalar("SELECT owner FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(pool)
                .await?
        });
        Ok(owner.map(Owner::new))
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<TokenRow> = with_pool!(self.database().db(), pool => {
            sqlx::query_as(
                "SELECT id, owner, label, created_at, revoked_at FROM api_tokens \
                 ORDER BY created_at DESC",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(TokenInfo::from).collect())
    }

    /// Revokes the token with this id; `false` if there is no such unrevoked token.
    pub async fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let _turn = self.database().turn().await;
        let revoked = with_pool!(self.database().db(), pool => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(revoked == 1)
    }
}
