-- Issues are looked up by short id ("WEB-1A": the API's and the
-- dashboard's issue routes take one in place of the id). Without an index
-- that read every issue of the organization.
CREATE INDEX issues_short_id ON issues (short_id)
